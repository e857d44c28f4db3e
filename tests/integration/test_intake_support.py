"""Shared pieces of the intake tests (no tests here): a mocked GitHub, the app, payloads.

GitHub is mocked with respx at http://github.test/api/v3 (installation token, collaborator
permission, branch heads, pull requests); the app is the real one, built on the test's
database (SQLite or PostgreSQL) and driven through Starlette's TestClient.

Intake only stores a delivery; the triage loop decides it. :meth:`Intake.post` does both in
turn, as ``farcaster serve`` would a moment apart: it sends the delivery, runs triage until
nothing is due, and answers with the HTTP status and the delivery's record (outcome,
reason, job id; ``state`` when it is not decided yet). :meth:`Intake.send` is the bare
HTTP exchange.
"""

import copy
import json
import re
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from githubkit.cache import MemCacheStrategy
from sqlalchemy import func, select

from bot.app.runtime import Runtime
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store.tables import DELIVERIES, EVENTS, JOBS, OUTBOX
from webhooks.app import create_app
from webhooks.signature import sign
from webhooks.triage import Triage

with warnings.catch_warnings():
    # Starlette 1.x would rather drive TestClient with `httpx2`; httpx works the same here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "webhooks"
API = "http://github.test/api/v3"
REPO = "Codertocat/Hello-World"
ANY_REPO = re.escape(f"{API}/repos/") + r"[^/]+/[^/]+"  # permissions are per user, any repo
INSTALLATION = 1
SECRET = "It's a Secret to Everybody"
MASTER_SHA = "a" * 40
DEVELOP_SHA = "d" * 40
RELEASE_SHA = "e" * 40


# For tests of routing, parsing and replies, whose store writes are the same single row on
# both engines; everything that creates, changes or deduplicates jobs runs on both.
engine_independent = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def sample(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return payload


def comment_payload(
    body: str,
    *,
    node_id: str | None = None,
    comment_id: int = 9001,
    user: str = "writer",
    user_type: str = "User",
    pull_request: bool = False,
    action: str = "created",
    issue_number: int = 1,
) -> dict[str, Any]:
    """The real issue_comment sample with our comment, author and ids."""
    payload = copy.deepcopy(sample("issue_comment.created.with-installation.json"))
    payload["action"] = action
    comment = payload["comment"]
    comment["body"] = body
    comment["id"] = comment_id
    comment["node_id"] = node_id or f"IC_{uuid.uuid4().hex[:16]}"
    comment["user"]["login"] = user
    comment["user"]["type"] = user_type
    comment["author_association"] = "OWNER"  # never trusted: the permission call decides
    payload["sender"]["login"] = user
    payload["sender"]["type"] = user_type
    payload["issue"]["number"] = issue_number
    if pull_request:
        payload["issue"]["pull_request"] = {
            "url": f"https://api.github.com/repos/{REPO}/pulls/{issue_number}",
            "html_url": f"https://github.com/{REPO}/pull/{issue_number}",
        }
    return payload


def headers_for(body: bytes, event: str, delivery_id: str | None = None) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": sign(SECRET, body),
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }


@dataclass
class FakeGitHub:
    """The GitHub reads intake makes, served by respx; permissions and branches are editable."""

    mock: respx.MockRouter
    permissions: dict[str, str] = field(default_factory=dict)
    branches: dict[str, str] = field(
        default_factory=lambda: {"master": MASTER_SHA, "develop": DEVELOP_SHA}
    )
    pull_bases: dict[int, str] = field(default_factory=lambda: {1: "develop", 2: "develop"})
    failure: httpx.Response | None = None

    def install(self) -> None:
        self.token = self.mock.post(
            f"{API}/app/installations/{INSTALLATION}/access_tokens"
        ).respond(201, json={"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"})
        self.permission = self.mock.get(
            url__regex=rf"{ANY_REPO}/collaborators/(?P<user>[^/]+)/permission$"
        )
        self.permission.side_effect = self._permission
        self.head = self.mock.get(url__regex=rf"{ANY_REPO}/git/ref/heads/(?P<branch>.+)$")
        self.head.side_effect = self._head
        self.pull = self.mock.get(url__regex=rf"{ANY_REPO}/pulls/(?P<number>\d+)$")
        self.pull.side_effect = self._pull

    def _permission(self, request: httpx.Request, user: str) -> httpx.Response:
        if self.failure is not None:
            return self.failure
        permission = self.permissions.get(user, "read")
        if permission == "none":
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(200, json={"permission": permission, "role_name": permission})

    def _head(self, request: httpx.Request, branch: str) -> httpx.Response:
        if branch not in self.branches:
            return httpx.Response(404, json={"message": "Not Found"})
        sha = self.branches[branch]
        return httpx.Response(200, json={"ref": f"refs/heads/{branch}", "object": {"sha": sha}})

    def _pull(self, request: httpx.Request, number: str) -> httpx.Response:
        base = self.pull_bases.get(int(number))
        if base is None:
            return httpx.Response(404, json={"message": "Not Found"})
        return httpx.Response(200, json={"number": int(number), "base": {"ref": base}})

    @property
    def reads(self) -> int:
        return self.permission.call_count + self.head.call_count + self.pull.call_count


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Intake:
    """The running app, its runtime, the fake GitHub and a clock for the permission cache."""

    client: TestClient
    runtime: Runtime
    github: FakeGitHub
    clock: Clock
    triage: Triage

    def send(
        self,
        payload: dict[str, Any] | bytes,
        event: str = "issue_comment",
        *,
        delivery_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The HTTP exchange alone: intake stores the delivery (or refuses it)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = headers_for(body, event, delivery_id)
        sent.update(headers or {})
        return self.client.post("/api/github/webhooks", content=body, headers=sent)

    def post(
        self,
        payload: dict[str, Any] | bytes,
        event: str = "issue_comment",
        *,
        delivery_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send, let triage decide, answer with the status and the delivery's record."""
        delivery_id = delivery_id or str(uuid.uuid4())
        response = self.send(payload, event, delivery_id=delivery_id, headers=headers)
        if response.status_code not in (200, 202):
            return response
        drain(self.triage)
        record = self.runtime.deliveries.find(delivery_id)
        assert record is not None, "a 2xx answer without a stored delivery"
        seen = {
            "delivery_id": record.delivery_id,
            "outcome": record.outcome,
            "reason": record.reason,
            "job_id": record.job_id,
            "duplicate": bool(response.json().get("duplicate", False)),
        }
        if record.state != "decided":
            seen["state"] = record.state
        return httpx.Response(response.status_code, json=seen, headers=response.headers)

    def comment(self, body: str, **kwargs: Any) -> httpx.Response:
        return self.post(comment_payload(body, **kwargs))

    # -- what the store holds -------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        with self.runtime.db.engine.connect() as conn:
            return {
                table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (DELIVERIES, JOBS, EVENTS, OUTBOX)
            }

    def deliveries(self) -> list[dict[str, Any]]:
        with self.runtime.db.engine.connect() as conn:
            rows = conn.execute(select(DELIVERIES).order_by(DELIVERIES.c.id)).mappings()
            return [dict(r) for r in rows]

    def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.runtime.outbox.items(kind=kind)


def runtime_for(settings: Settings) -> Runtime:
    """A runtime whose GitHub clients have their own token cache (one client per installation,
    as in production, so the App key is loaded once)."""
    clients: dict[int, GitHubClient] = {}
    cache = MemCacheStrategy()

    def github(installation_id: int) -> GitHubClient:
        if installation_id not in clients:
            clients[installation_id] = GitHubClient.for_installation(
                settings, installation_id, cache=cache
            )
        return clients[installation_id]

    return Runtime.from_settings(settings, github=github)


@contextmanager
def running_intake(settings: Settings) -> Iterator[Intake]:
    """The app on the test's database, GitHub mocked; each test module wraps it in a fixture."""
    runtime = runtime_for(settings)
    clock = Clock()
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        github = FakeGitHub(mock, permissions={"writer": "write", "reader": "read"})
        github.install()
        app = create_app(runtime, clock=clock)
        triage = Triage(app.state.context, app.state.router, "test-triage", jitter=lambda: 0.0)
        with TestClient(app) as client:
            yield Intake(client, runtime, github, clock, triage)
    runtime.close()


def drain(triage: Triage, *, now: float | None = None) -> int:
    """Triage passes until nothing is due, as ``farcaster serve`` runs them; how many were
    handled. ``now`` replaces the database clock (to skip a backoff)."""
    total = 0
    while handled := triage.run_once(now=now):
        total += handled
    return total
