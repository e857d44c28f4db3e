"""The one web page of the emulator: registering an App from a manifest.

GitHub's flow: a form POSTs ``manifest`` (JSON) to ``/settings/apps/new`` (or
``/organizations/{org}/settings/apps/new``), optionally with ``?state=``; the user confirms;
GitHub redirects to the manifest's ``redirect_url`` with ``?code=...&state=...``. The
emulator confirms by itself: it registers the manifest and redirects at once, or, when the
manifest has no ``redirect_url``, shows the code on a page. ``GET`` with ``?manifest=`` works
too, so a test can drive the flow with one request.
"""

import html
import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from bot.emulator import apps
from bot.emulator.state import Emulator

router = APIRouter()


def _register(em: Emulator, raw: str | None, owner: str | None) -> tuple[str, dict[str, Any]]:
    manifest = json.loads(raw or "")
    if not isinstance(manifest, dict):
        raise ValueError("the manifest must be a JSON object")
    with em.lock:
        return apps.register_manifest(em, manifest, owner), manifest


async def _answer(
    request: Request, raw: str | None, state: str | None, org: str | None
) -> Response:
    em: Emulator = request.app.state.emulator
    try:
        code, manifest = await run_in_threadpool(_register, em, raw, org)
    except ValueError as exc:
        return HTMLResponse(f"<p>Invalid manifest: {html.escape(str(exc))}</p>", status_code=400)
    redirect = manifest.get("redirect_url")
    if isinstance(redirect, str) and redirect:
        query = urlencode({"code": code, **({"state": state} if state else {})})
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{separator}{query}", status_code=302)
    return HTMLResponse(
        f"<p>App manifest registered. Code: <code id='code'>{html.escape(code)}</code></p>"
    )


@router.get("/settings/apps/new")
@router.get("/organizations/{org}/settings/apps/new")
async def new_app_get(
    request: Request, manifest: str | None = None, state: str | None = None, org: str | None = None
) -> Response:
    return await _answer(request, manifest, state, org)


@router.post("/settings/apps/new")
@router.post("/organizations/{org}/settings/apps/new")
async def new_app_post(
    request: Request, state: str | None = None, org: str | None = None
) -> Response:
    form = parse_qs((await request.body()).decode())
    manifest = form.get("manifest", [])
    return await _answer(request, manifest[0] if manifest else None, state, org)
