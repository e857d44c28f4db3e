"""A pull request's lifecycle webhooks: opened, synchronize, closed (merged or not),
reopened, with the keys of GitHub's examples and in GitHub's order.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from bot.emulator.control import EmulatorControl, EmulatorError
from bot.emulator.serve import EmulatorThread
from tests.integration.emulator_support import Sink, missing_keys, running_sink, sample

APP_ID = 101
INSTALLATION = 1010
OWNER = "pulls-org"
HTTP = httpx.Client()
NULLABLE = frozenset({".pull_request.assignee", ".pull_request.milestone"})


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    private_pem: str

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        signed = jwt.encode(claims, self.private_pem, algorithm="RS256")
        token = HTTP.post(
            f"{self.control.api_url}/app/installations/{INSTALLATION}/access_tokens",
            headers={"Authorization": f"Bearer {signed}"},
        ).json()["token"]
        headers = {"Authorization": f"token {token}"}
        return HTTP.request(method, self.control.api_url + path, headers=headers, **kwargs)

    def events(self) -> list[tuple[str, str | None]]:
        self.control.drain_deliveries()
        return [(hit.event, hit.json().get("action")) for hit in self.sink.hits]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_sink() as sink, EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, slug="farcaster")
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        yield World(control, sink, app["private_key_pem"])
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"a.txt": "a\n"})
    world.control.push(OWNER, name, "feature", {"f.txt": "f\n"}, user="bob")
    world.control.drain_deliveries()
    world.sink.hits.clear()
    return name


def test_a_humans_pull_request_delivers_opened(world: World, repo: str) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature", user="bob")
    assert pr["delivery"]["event"] == "pull_request" and pr["delivery"]["status"] == 202
    [hit] = world.sink.hits
    event = hit.json()
    assert missing_keys(sample("pull_request.opened.json"), event, nullable=NULLABLE) == []
    assert (event["action"], event["number"]) == ("opened", pr["number"])
    assert event["pull_request"]["head"]["ref"] == "feature"
    assert event["sender"]["login"] == "bob"
    world.control.push(OWNER, repo, "other", {"o.txt": "o\n"})
    world.sink.hits.clear()
    quiet = world.control.create_pull(OWNER, repo, "other", "Quiet", deliver=False)
    assert quiet["delivery"] is None and world.sink.hits == []


def test_a_push_to_the_head_branch_synchronizes_after_the_push(world: World, repo: str) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature", user="bob")
    before = pr["head"]["sha"]
    world.sink.hits.clear()
    after = world.control.push(OWNER, repo, "feature", {"g.txt": "g\n"}, user="carol")
    assert world.events() == [("push", None), ("pull_request", "synchronize")]
    event = world.sink.hits[1].json()
    assert (event["before"], event["after"], event["number"]) == (before, after, pr["number"])
    assert event["pull_request"]["head"]["sha"] == after
    assert event["sender"]["login"] == "carol"
    assert missing_keys(sample("pull_request.opened.json"), event, nullable=NULLABLE) == []


def test_the_apps_own_push_to_a_pr_branch_synchronizes_too(world: World, repo: str) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature", user="bob")
    world.sink.hits.clear()
    main = world.control.repo_state(OWNER, repo)["branches"]["main"]
    moved = world.api(
        "PATCH",
        f"/repos/{OWNER}/{repo}/git/refs/heads/feature",
        json={"sha": main, "force": True},
    )
    assert moved.status_code == 200
    assert world.events() == [("push", None), ("pull_request", "synchronize")]
    event = world.sink.hits[1].json()
    assert event["after"] == main and event["number"] == pr["number"]
    assert event["sender"]["login"] == "farcaster[bot]"


def test_pushes_to_the_base_or_a_closed_prs_head_do_not_synchronize(
    world: World, repo: str
) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature")
    world.control.push(OWNER, repo, "main", {"m.txt": "m\n"})
    world.control.close_pull(OWNER, repo, pr["number"])
    world.sink.hits.clear()
    world.control.push(OWNER, repo, "feature", {"h.txt": "h\n"})
    assert world.events() == [("push", None)]


def test_closing_then_reopening_delivers_closed_then_reopened(world: World, repo: str) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature")
    world.control.close_pull(OWNER, repo, pr["number"], user="alice")
    reopened = world.control.reopen_pull(OWNER, repo, pr["number"], user="alice")
    assert reopened["pull_request"]["state"] == "open"
    assert reopened["pull_request"]["closed_at"] is None
    assert world.events()[-2:] == [("pull_request", "closed"), ("pull_request", "reopened")]
    closed = world.sink.hits[-2].json()["pull_request"]
    assert (closed["state"], closed["merged"]) == ("closed", False)
    with pytest.raises(EmulatorError) as again:
        world.control.reopen_pull(OWNER, repo, pr["number"])
    assert again.value.status == 422


def test_a_merged_pull_request_cannot_be_reopened(world: World, repo: str) -> None:
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature")
    merged = world.control.close_pull(OWNER, repo, pr["number"], merge=True)
    assert merged["pull_request"]["merged"] is True
    assert world.events()[-2:] == [("push", None), ("pull_request", "closed")]
    with pytest.raises(EmulatorError) as refused:
        world.control.reopen_pull(OWNER, repo, pr["number"])
    assert refused.value.status == 422
    state = world.control.repo_state(OWNER, repo)["pulls"]
    assert (state["open"], state["merged"]) == (0, 1)
