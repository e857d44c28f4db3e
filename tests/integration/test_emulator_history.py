"""What happened over time, read from the emulator: a comment's edit history (a status
comment's phases, in order) and every move of a repository's refs (force-moves counted).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from githubkit.cache import MemCacheStrategy

from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl, EmulatorError
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient

APP_ID = 121
INSTALLATION = 1210
OWNER = "history-org"
ZERO = "0" * 40


@dataclass
class World:
    control: EmulatorControl
    client: GitHubClient


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, slug="farcaster")  # no webhook: none needed
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        settings = Settings(
            github_api_url=control.api_url,
            github_app_id=APP_ID,
            github_private_key=app["private_key_pem"],
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
        yield World(control, client)
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"a.txt": "a\n"})
    return name


def test_a_status_comments_phases_are_kept_in_order(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Rename", user="alice")
    human = world.control.comment(OWNER, repo, issue["number"], "/farcaster go", user="alice")
    status = world.client.create_issue_comment(OWNER, repo, issue["number"], "queued")
    for body in ("running", "running", "applying", "done: #2"):
        world.client.update_issue_comment(OWNER, repo, status["id"], body)

    history = world.control.comment_history(OWNER, repo, status["id"])
    assert [h["body"] for h in history] == ["queued", "running", "applying", "done: #2"]
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and times[0].tzinfo is not None
    listed = world.control.issue_comments(OWNER, repo, issue["number"])
    assert [(c["user"], c["body"]) for c in listed] == [
        ("alice", "/farcaster go"),
        ("farcaster[bot]", "done: #2"),
    ]
    assert listed[0]["id"] == human["comment"]["id"] and len(listed[0]["history"]) == 1
    assert listed[1]["app_id"] == APP_ID
    with pytest.raises(EmulatorError) as missing:
        world.control.comment_history(OWNER, repo, 1)
    assert missing.value.status == 404


def test_every_ref_move_is_logged_with_who_how_and_whether_forced(world: World, repo: str) -> None:
    gh = world.client
    main = gh.branch_head(OWNER, repo, "main")
    one = world.control.push(OWNER, repo, "side", {"b.txt": "b\n"})  # a human's new branch
    assert gh.create_ref(OWNER, repo, "farcaster/j", one) is True
    two = world.control.push(OWNER, repo, "side", {"c.txt": "c\n"})
    gh.update_ref(OWNER, repo, "farcaster/j", two)  # a fast-forward
    gh.update_ref(OWNER, repo, "farcaster/j", main, force=True)  # a force-move
    pr = world.control.create_pull(OWNER, repo, "side", "Side", deliver=False)
    merged = world.control.close_pull(OWNER, repo, pr["number"], merge=True)

    moves = [
        (m["ref"], m["before"], m["after"], m["forced"], m["by"], m["via"])
        for m in world.control.ref_log(OWNER, repo)
    ]
    merge_sha = merged["pull_request"]["merge_commit_sha"]
    assert moves == [
        ("refs/heads/side", ZERO, one, False, OWNER, "push"),
        ("refs/heads/farcaster/j", ZERO, one, False, "farcaster[bot]", "api"),
        ("refs/heads/side", one, two, False, OWNER, "push"),
        ("refs/heads/farcaster/j", one, two, False, "farcaster[bot]", "api"),
        ("refs/heads/farcaster/j", two, main, True, "farcaster[bot]", "api"),
        ("refs/heads/main", main, merge_sha, False, "history-org", "merge"),
    ]
    only = world.control.ref_log(OWNER, repo, ref="refs/heads/farcaster/j")
    assert len(only) == 3
    counts = world.control.repo_state(OWNER, repo)["ref_moves"]
    assert counts["refs/heads/farcaster/j"] == {"total": 3, "forced": 1}
    assert counts["refs/heads/main"] == {"total": 1, "forced": 0}
