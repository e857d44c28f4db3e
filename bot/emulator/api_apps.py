"""App routes: installation tokens, the repository's installation, the App itself, and
the manifest conversion.

``POST /app/installations/{id}/access_tokens`` (JWT) answers 201 ``{"token", "expires_at",
"permissions", "repository_selection"}`` with ``expires_at`` formatted exactly
``%Y-%m-%dT%H:%M:%SZ`` (githubkit parses it with ``strptime``). ``POST
/app-manifests/{code}/conversions`` needs no authentication, like GitHub's.
"""

from typing import Any

from fastapi import APIRouter, Request

from bot.emulator import apps, render
from bot.emulator.auth import app_from_jwt, mint_token
from bot.emulator.deps import Em, UrlsDep
from bot.emulator.errors import not_found
from bot.emulator.gitrepo import utc

router = APIRouter()


@router.get("/app")
def get_app(em: Em, urls: UrlsDep, request: Request) -> dict[str, Any]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        return render.app(em, urls, app)


@router.post("/app/installations/{installation_id}/access_tokens", status_code=201)
def create_access_token(em: Em, installation_id: int, request: Request) -> dict[str, Any]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        installation = em.installations.get(installation_id)
        if installation is None or installation.app_id != app.id:
            raise not_found(
                "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
            )
        token = mint_token(em, installation)
        return {
            "token": token.value,
            "expires_at": utc(token.expires_at),
            "permissions": dict(app.permissions),
            "repository_selection": "all",
        }


@router.get("/repos/{owner}/{repo}/installation")
def get_repo_installation(
    em: Em, urls: UrlsDep, owner: str, repo: str, request: Request
) -> dict[str, Any]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        record = em.repo(owner, repo)
        installation = em.installation_for(app.id, owner)
        if record is None or installation is None:
            raise not_found(
                "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app"
            )
        return render.installation(em, urls, installation)


@router.post("/app-manifests/{code}/conversions", status_code=201)
def convert_manifest(em: Em, urls: UrlsDep, code: str) -> dict[str, Any]:
    with em.lock:
        converted = apps.convert_manifest(em, code)
        if converted is None:
            raise not_found(
                "https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest"
            )
        app, pem = converted
        return {
            **render.app(em, urls, app),
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "webhook_secret": app.webhook_secret,
            "pem": pem,
        }
