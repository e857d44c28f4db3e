"""The emulator's labels and review requests answer as GitHub does: bodies, 422s, no doubles."""

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from githubkit.cache import MemCacheStrategy

from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient

APP_ID = 4343
INSTALLATION = 78
OWNER = "acme"
REPO = "widgets"
_BRANCHES = itertools.count(1)


@dataclass
class World:
    control: EmulatorControl
    client: GitHubClient
    api: str
    token: str

    def post(self, path: str, body: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        url = f"{self.api}/repos/{OWNER}/{REPO}{path}"
        return httpx.post(url, json=body, headers=headers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, rsa_private_key_pem: str) -> Iterator[World]:
    key = serialization.load_pem_private_key(rsa_private_key_pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as base_url:
        control = EmulatorControl(base_url)
        control.create_app(app_id=APP_ID, public_key_pem=public.decode())
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        control.create_repo(OWNER, REPO, files={"README.md": "# widgets\n"})
        control.set_permission(OWNER, REPO, "bob", "write")
        settings = Settings(
            github_api_url=control.api_url,
            github_app_id=APP_ID,
            github_private_key=rsa_private_key_pem,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
        yield World(control, client, control.api_url, _token(control, rsa_private_key_pem))
        control.close()


@pytest.fixture
def pull(world: World) -> int:
    """A fresh pull request opened by dave, a human."""
    branch = f"topic-{next(_BRANCHES)}"
    world.control.push(OWNER, REPO, branch, {"README.md": f"# {branch}\n"}, user="dave")
    return int(world.control.create_pull(OWNER, REPO, branch, branch, user="dave")["number"])


def _token(control: EmulatorControl, private_pem: str) -> str:
    now = int(time.time())
    app_jwt = jwt.encode(
        {"iss": str(APP_ID), "iat": now - 60, "exp": now + 540}, private_pem, algorithm="RS256"
    )
    answer = httpx.post(
        f"{control.api_url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt}"},
    )
    return str(answer.json()["token"])


def test_labels_are_created_on_first_use_and_never_doubled(world: World, pull: int) -> None:
    first = world.post(f"/issues/{pull}/labels", {"labels": ["refactor", "Bug"]})
    again = world.post(f"/issues/{pull}/labels", {"labels": ["REFACTOR"]})

    assert first.status_code == 200 and again.status_code == 200
    assert [label["name"] for label in again.json()] == ["refactor", "Bug"]
    assert [label["id"] for label in again.json()] == [label["id"] for label in first.json()]
    shown = world.client.get_pull(OWNER, REPO, pull)
    assert [label["name"] for label in shown["labels"]] == ["refactor", "Bug"]


def test_a_review_request_is_all_or_nothing(world: World, pull: int) -> None:
    refused = world.post(f"/pulls/{pull}/requested_reviewers", {"reviewers": ["bob", "carol"]})
    author = world.post(f"/pulls/{pull}/requested_reviewers", {"reviewers": ["dave"]})

    assert refused.status_code == 422
    body = refused.json()
    assert body["message"].startswith("Reviews may only be requested from collaborators.")
    assert f"{OWNER}/{REPO} repository" in body["message"]
    assert body["status"] == "422" and "documentation_url" in body
    assert author.status_code == 422
    assert author.json()["message"] == "Review cannot be requested from pull request author."
    assert world.client.get_pull(OWNER, REPO, pull)["requested_reviewers"] == []
    # Through the client, a 422 is GitHub's sentence handed back, not an exception.
    why = world.client.request_reviewers(OWNER, REPO, pull, ["carol"], [])
    assert why is not None and why.startswith("Reviews may only be requested")


def test_requested_reviewers_and_teams_show_on_the_pull_once(world: World, pull: int) -> None:
    for _ in range(2):
        assert world.client.request_reviewers(OWNER, REPO, pull, ["bob"], ["core"]) is None

    shown = world.client.get_pull(OWNER, REPO, pull)
    assert [user["login"] for user in shown["requested_reviewers"]] == ["bob"]
    assert [(team["slug"], team["name"]) for team in shown["requested_teams"]] == [("core", "core")]
    state = world.control.repo_state(OWNER, REPO)
    assert state["review_requests"] == {str(pull): ["bob", "acme/core"]}
