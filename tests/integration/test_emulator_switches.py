"""The emulator's switches that make GitHub misbehave on purpose, as it does for real.

- the clock moved past a token's life, or every token revoked (a GitHub-side reset):
  401 ``Bad credentials`` with GitHub's exact body, and a fresh token works again;
- GitHub's content-creation limit (80 writes a minute, 500 an hour per installation):
  403 with the secondary-limit message and ``retry-after``, freed by moving the clock;
- an API outage: every ``/api/v3`` call answers 502 ``Server Error`` while webhooks still
  go out, and a refused write changes nothing.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from githubkit.cache import MemCacheStrategy

from bot.core.errors import RateLimited
from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl
from bot.emulator.ratelimit import SECONDARY_MESSAGE
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient
from tests.integration.emulator_support import Sink, running_sink

APP_ID = 91
INSTALLATION = 910
OTHER_INSTALLATION = 911
OWNER = "switch-org"
HTTP = httpx.Client()
BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
    "status": "401",
}


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    private_pem: str

    def now(self) -> int:
        return int(time.time() + self.control.state()["clock"]["offset_seconds"])

    def jwt(self) -> str:
        now = self.now()
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        return jwt.encode(claims, self.private_pem, algorithm="RS256")

    def mint(self, installation: int = INSTALLATION) -> httpx.Response:
        return HTTP.post(
            f"{self.control.api_url}/app/installations/{installation}/access_tokens",
            headers={"Authorization": f"Bearer {self.jwt()}"},
        )

    def token(self, installation: int = INSTALLATION) -> str:
        return str(self.mint(installation).json()["token"])

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {token}"}
        return HTTP.request(method, self.control.api_url + path, headers=headers, **kwargs)

    def client(self) -> GitHubClient:
        settings = Settings(
            github_api_url=self.control.api_url,
            github_app_id=APP_ID,
            github_private_key=self.private_pem,
            _env_file=None,  # type: ignore[call-arg]
        )
        return GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_sink() as sink, EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url)
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        control.create_installation(APP_ID, "other-org", OTHER_INSTALLATION)
        yield World(control, sink, app["private_key_pem"])
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> Iterator[str]:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"a.txt": "a\n"})
    world.control.drain_deliveries()
    world.sink.hits.clear()
    yield name
    world.control.set_clock(offset_seconds=0)
    world.control.outage(seconds=0)
    world.control.limit_content(enabled=False)


# -- credentials ---------------------------------------------------------------------------


def test_a_token_past_its_hour_gets_githubs_bad_credentials(world: World, repo: str) -> None:
    token = world.token()
    assert world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code == 200
    world.control.set_clock(advance_seconds=3601)
    expired = world.call("GET", f"/repos/{OWNER}/{repo}", token)
    assert (expired.status_code, expired.json()) == (401, BAD_CREDENTIALS)
    fresh = world.mint()  # a JWT on the emulator's clock still mints
    assert fresh.status_code == 201
    assert world.call("GET", f"/repos/{OWNER}/{repo}", fresh.json()["token"]).status_code == 200


def test_revoking_tokens_is_a_github_side_reset(world: World, repo: str) -> None:
    mine, theirs = world.token(), world.token(OTHER_INSTALLATION)
    assert world.control.revoke_tokens(INSTALLATION) >= 1
    refused = world.call("GET", f"/repos/{OWNER}/{repo}", mine)
    assert (refused.status_code, refused.json()) == (401, BAD_CREDENTIALS)
    assert world.call("GET", "/repos/other-org/none", theirs).status_code == 404  # still valid

    assert world.control.revoke_tokens() >= 1
    assert world.call("GET", "/repos/other-org/none", theirs).status_code == 401
    again = world.token()
    assert world.call("GET", f"/repos/{OWNER}/{repo}", again).status_code == 200


def test_the_bot_client_heals_after_a_reset(world: World, repo: str) -> None:
    client = world.client()
    assert client.get_repo(OWNER, repo)["name"] == repo
    world.control.revoke_tokens()
    assert client.get_repo(OWNER, repo)["name"] == repo  # re-minted, once


# -- the content-creation limit ------------------------------------------------------------


def _blob(world: World, repo: str, token: str, n: int) -> httpx.Response:
    return world.call("POST", f"/repos/{OWNER}/{repo}/git/blobs", token, json={"content": f"{n}"})


def test_the_81st_write_in_a_minute_gets_the_secondary_limit(world: World, repo: str) -> None:
    world.control.limit_content()
    token = world.token()
    answers = [_blob(world, repo, token, n).status_code for n in range(80)]
    assert answers == [201] * 80
    limited = _blob(world, repo, token, 80)
    assert limited.status_code == 403
    assert limited.json()["message"] == SECONDARY_MESSAGE
    assert "secondary-rate-limits" in limited.json()["documentation_url"]
    assert 55 <= int(limited.headers["retry-after"]) <= 60
    assert world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code == 200  # reads pass
    assert _blob(world, repo, world.token(OTHER_INSTALLATION), 0).status_code == 404  # per App

    world.control.set_clock(advance_seconds=61)
    assert _blob(world, repo, world.token(), 81).status_code == 201


def test_the_hourly_limit_holds_when_the_minute_is_free(world: World, repo: str) -> None:
    world.control.limit_content(per_minute=3, per_hour=5)
    token = world.token()
    assert [_blob(world, repo, token, n).status_code for n in range(4)] == [201] * 3 + [403]
    world.control.set_clock(advance_seconds=61)
    token = world.token()
    assert [_blob(world, repo, token, n).status_code for n in range(3)] == [201, 201, 403]
    limited = _blob(world, repo, token, 9)
    assert 3400 < int(limited.headers["retry-after"]) <= 3600 - 61


def test_the_bot_client_reads_the_limit_as_rate_limited(world: World, repo: str) -> None:
    world.control.limit_content(per_minute=1, per_hour=500)
    client = world.client()
    head = client.branch_head(OWNER, repo, "main")
    assert client.create_ref(OWNER, repo, "farcaster/one", head) is True
    with pytest.raises(RateLimited) as limited:
        client.create_ref(OWNER, repo, "farcaster/two", head)
    assert 55 <= limited.value.retry_after <= 60


# -- an API outage -------------------------------------------------------------------------


def test_an_outage_answers_502_while_webhooks_still_go_out(world: World, repo: str) -> None:
    token = world.token()
    head = world.control.repo_state(OWNER, repo)["branches"]["main"]
    state = world.control.outage(seconds=60)
    assert state["active"] and state["status"] == 502

    down = world.call("GET", f"/repos/{OWNER}/{repo}", token)
    assert (down.status_code, down.json()) == (502, {"message": "Server Error"})
    assert world.mint().status_code == 502  # App routes too
    write = world.call(
        "POST", f"/repos/{OWNER}/{repo}/git/refs", token, json={"ref": "refs/heads/x", "sha": head}
    )
    assert write.status_code == 502
    issue = world.control.create_issue(OWNER, repo, "During the outage")  # admin still works
    sent = world.control.comment(OWNER, repo, issue["number"], "/farcaster status", user="alice")
    assert sent["delivery"]["status"] == 202 and len(world.sink.hits) == 1

    world.control.outage(seconds=0)
    assert world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code == 200
    assert "x" not in world.control.repo_state(OWNER, repo)["branches"]  # nothing happened
    refused = world.control.journal(status=502, contains=f"/repos/{OWNER}/{repo}")
    assert [e["method"] for e in refused] == ["GET", "POST"]


def test_an_outage_by_count_refuses_exactly_that_many_calls(world: World, repo: str) -> None:
    token = world.token()
    world.control.outage(count=2, status=503)
    statuses = [world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert world.control.state()["outage"]["active"] is False


def test_an_outage_ends_by_itself(world: World, repo: str) -> None:
    token = world.token()
    world.control.outage(seconds=0.3)
    assert world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code == 502
    deadline = time.monotonic() + 5
    while world.control.state()["outage"]["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.call("GET", f"/repos/{OWNER}/{repo}", token).status_code == 200
