"""The App's own actions deliver webhooks, as on GitHub, once switched on.

GitHub tells an App about its own comments, pull requests and check runs; a bot that does
not recognise them answers itself. The emulator sends them when ``deliver_own_events`` is
set, and not otherwise.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from githubkit.cache import MemCacheStrategy

from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient
from tests.integration.emulator_support import Sink, missing_keys, running_sink, sample

APP_ID = 111
INSTALLATION = 1110
OWNER = "own-org"


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    client: GitHubClient

    def events(self) -> list[tuple[str, str | None]]:
        self.control.drain_deliveries()
        return [(hit.event, hit.json().get("action")) for hit in self.sink.hits]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_sink() as sink, EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, slug="farcaster")
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        settings = Settings(
            github_api_url=control.api_url,
            github_app_id=APP_ID,
            github_private_key=app["private_key_pem"],
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
        yield World(control, sink, client)
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> Iterator[str]:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"a.txt": "a\n"})
    world.control.push(OWNER, name, "farcaster/j1", {"b.txt": "b\n"})
    world.control.drain_deliveries()
    world.sink.hits.clear()
    yield name
    world.control.deliver_own_events(False)


def act(world: World, repo: str) -> dict[str, Any]:
    """What the bot does for a job: a status comment edited once, a PR, a check run."""
    issue = world.control.create_issue(OWNER, repo, "Rename", user="alice")
    status = world.client.create_issue_comment(OWNER, repo, issue["number"], "queued")
    world.client.update_issue_comment(OWNER, repo, status["id"], "done")
    pr = world.client.create_pull(
        OWNER, repo, title="Rename", head="farcaster/j1", base="main", body=""
    )
    head = world.client.branch_head(OWNER, repo, "farcaster/j1")
    run = world.client.create_check_run(
        OWNER, repo, {"name": "farcaster", "head_sha": head, "status": "in_progress"}
    )
    world.client.update_check_run(
        OWNER, repo, run["id"], {"status": "completed", "conclusion": "success"}
    )
    return {"comment": status, "pull": pr, "run": run}


def test_by_default_the_apps_own_actions_deliver_nothing(world: World, repo: str) -> None:
    act(world, repo)
    assert world.events() == []


def test_switched_on_the_app_hears_its_own_comments_pulls_and_runs(world: World, repo: str) -> None:
    world.control.deliver_own_events()
    made = act(world, repo)
    assert world.events() == [
        ("issue_comment", "created"),
        ("issue_comment", "edited"),
        ("pull_request", "opened"),
        ("check_run", "created"),
        ("check_run", "completed"),
    ]
    created, edited, opened, run_created, run_completed = (h.json() for h in world.sink.hits)
    nullable = frozenset({".issue.assignee", ".issue.milestone"})
    template = sample("issue_comment.created.with-installation.json")
    assert missing_keys(template, created, nullable=nullable) == []
    assert (created["sender"]["login"], created["sender"]["type"]) == ("farcaster[bot]", "Bot")
    assert created["comment"]["performed_via_github_app"]["id"] == APP_ID
    assert created["comment"]["id"] == made["comment"]["id"]
    assert edited["changes"] == {"body": {"from": "queued"}}
    assert edited["comment"]["body"] == "done"
    assert opened["pull_request"]["number"] == made["pull"]["number"]
    assert opened["sender"]["login"] == "farcaster[bot]"
    assert run_created["check_run"]["id"] == run_completed["check_run"]["id"]
    assert run_completed["check_run"]["conclusion"] == "success"


def test_an_edit_that_changes_nothing_delivers_nothing(world: World, repo: str) -> None:
    world.control.deliver_own_events()
    issue = world.control.create_issue(OWNER, repo, "Same", user="alice")
    status = world.client.create_issue_comment(OWNER, repo, issue["number"], "same")
    world.client.update_issue_comment(OWNER, repo, status["id"], "same")
    assert world.events() == [("issue_comment", "created")]
