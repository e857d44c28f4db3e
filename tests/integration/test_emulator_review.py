"""Inline review comments and a pull request's commit list.

A human's review comment (admin) is placed on the PR's diff as GitHub places it and
delivers ``pull_request_review_comment`` with the keys of GitHub's example; the App reads
the comments, replies in their thread, and lists the PR's commits through the REST API,
which githubkit's models parse.
"""

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import RequestFailed

from bot.emulator.control import EmulatorControl, EmulatorError
from bot.emulator.serve import EmulatorThread
from tests.integration.emulator_support import Sink, missing_keys, running_sink, sample

APP_ID = 81
INSTALLATION = 810
OWNER = "review-org"
ORIGINAL = "".join(f"line {n}\n" for n in range(1, 41))
# Line 10 rewritten, a line added after 30 (new line 31): the diff has two hunks.
CHANGED = ORIGINAL.replace("line 10\n", "line ten\n").replace("line 30\n", "line 30\nline 30b\n")


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    gh: GitHub[Any]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.gh.request(method, path, **kwargs)
        return response.raw_response


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_sink() as sink, EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, slug="farcaster")
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        gh = GitHub(
            AppInstallationAuthStrategy(str(APP_ID), app["private_key_pem"], INSTALLATION),
            base_url=control.api_url + "/",
            cache_strategy=MemCacheStrategy(),
            http_cache=False,
            auto_retry=False,
        )
        yield World(control, sink, gh)
        control.close()


@dataclass
class Pull:
    repo: str
    number: int
    head: str


@pytest.fixture
def pull(world: World, request: pytest.FixtureRequest) -> Pull:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"notes.txt": ORIGINAL, "keep.txt": "k\n"})
    world.control.set_permission(OWNER, name, "alice", "write")
    head = world.control.push(OWNER, name, "feature", {"notes.txt": CHANGED}, user="bob")
    pr = world.control.create_pull(OWNER, name, "feature", "Rework notes", user="bob")
    world.control.drain_deliveries()
    world.sink.hits.clear()
    return Pull(name, pr["number"], head)


def comment(world: World, pull: Pull, **fields: Any) -> dict[str, Any]:
    fields.setdefault("user", "alice")
    fields.setdefault("path", "notes.txt")
    body = fields.pop("body", "Please reconsider this line.")
    made: dict[str, Any] = world.control.review_comment(
        OWNER, pull.repo, pull.number, body, **fields
    )
    return made


# -- a human's review comment --------------------------------------------------------------


def test_a_review_comment_delivers_pull_request_review_comment_like_githubs(
    world: World, pull: Pull
) -> None:
    made = comment(world, pull, line=10, body="/farcaster run coder 'use words'")
    assert made["delivery"]["event"] == "pull_request_review_comment"
    assert (made["delivery"]["action"], made["delivery"]["status"]) == ("created", 202)
    [hit] = world.sink.hits
    event = hit.json()
    nullable = frozenset({".pull_request.assignee", ".pull_request.milestone"})
    assert (
        missing_keys(sample("pull_request_review_comment.created.json"), event, nullable=nullable)
        == []
    )
    found = event["comment"]
    assert found == made["comment"]
    assert (found["path"], found["line"], found["side"], found["original_line"]) == (
        "notes.txt",
        10,
        "RIGHT",
        10,
    )
    assert found["commit_id"] == found["original_commit_id"] == pull.head
    assert found["start_line"] is None and found["start_side"] is None
    assert found["subject_type"] == "line" and "in_reply_to_id" not in found
    assert found["user"]["login"] == "alice" and found["author_association"] == "COLLABORATOR"
    assert found["diff_hunk"].startswith("@@ -7,7 +7,7 @@")
    assert found["diff_hunk"].endswith("\n+line ten")
    assert found["position"] == 5  # 3 context lines, then "-line 10", then "+line ten"
    assert found["html_url"].endswith(f"/pull/{pull.number}#discussion_r{found['id']}")
    assert found["pull_request_review_id"] != found["id"]
    pr = event["pull_request"]
    assert (pr["number"], pr["head"]["sha"], pr["state"]) == (pull.number, pull.head, "open")
    assert "merged" not in pr and "review_comments" not in pr  # the event's short form
    assert event["sender"]["login"] == "alice" and event["installation"]["id"] == INSTALLATION


def test_context_lines_the_left_side_and_ranges_are_placed(world: World, pull: Pull) -> None:
    context = comment(world, pull, line=8)["comment"]  # unchanged, but inside the hunk
    assert context["diff_hunk"].endswith("\n line 8")
    left = comment(world, pull, line=10, side="LEFT")["comment"]
    assert left["side"] == "LEFT" and left["diff_hunk"].endswith("\n-line 10")
    ranged = comment(world, pull, line=31, start_line=29)["comment"]
    assert (ranged["start_line"], ranged["start_side"], ranged["line"]) == (29, "RIGHT", 31)
    second_hunk = ranged["diff_hunk"].splitlines()
    assert second_hunk[0].startswith("@@ -28,6 +28,7 @@") and second_hunk[-1] == "+line 30b"
    assert ranged["position"] > context["position"]  # positions run on across hunks


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"line": 20}, "pull_request_review_thread.line must be part of the diff"),
        ({"line": 3, "path": "keep.txt"}, "pull_request_review_thread.path is invalid"),
        ({"line": 10, "start_line": 12}, "start_line must precede the end line"),
        ({"line": 10, "side": "MIDDLE"}, "side is not included in the list"),
    ],
)
def test_a_comment_off_the_diff_is_refused_like_github(
    world: World, pull: Pull, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(EmulatorError) as refused:
        comment(world, pull, **fields)
    assert refused.value.status == 422
    assert refused.value.body["message"] == "Validation Failed"
    assert message in refused.value.body["errors"][0]["message"]
    assert world.sink.hits == []


def test_a_human_reply_joins_the_thread(world: World, pull: Pull) -> None:
    top = comment(world, pull, line=10)["comment"]
    answer = comment(world, pull, user="bob", in_reply_to=top["id"], body="Done.")["comment"]
    assert answer["in_reply_to_id"] == top["id"]
    assert (answer["path"], answer["line"], answer["diff_hunk"]) == (
        top["path"],
        top["line"],
        top["diff_hunk"],
    )
    event = world.sink.hits[-1].json()
    assert event["comment"]["in_reply_to_id"] == top["id"]
    with pytest.raises(EmulatorError) as refused:
        comment(world, pull, in_reply_to=answer["id"], body="Nested?")
    assert refused.value.status == 422


# -- the App reads and replies -------------------------------------------------------------


def test_the_app_lists_and_replies_to_review_comments(world: World, pull: Pull) -> None:
    top = comment(world, pull, line=10)["comment"]
    comment(world, pull, line=31)
    base = f"/repos/{OWNER}/{pull.repo}/pulls"

    listed = world.gh.rest.pulls.list_review_comments(OWNER, pull.repo, pull.number).parsed_data
    assert [(c.line, c.user.login if c.user else None) for c in listed] == [
        (10, "alice"),
        (31, "alice"),
    ]
    one = world.gh.rest.pulls.get_review_comment(OWNER, pull.repo, top["id"]).parsed_data
    assert one.diff_hunk == top["diff_hunk"]

    world.sink.hits.clear()
    replied = world.gh.rest.pulls.create_reply_for_review_comment(
        OWNER, pull.repo, pull.number, top["id"], body="On it."
    )
    assert replied.status_code == 201
    reply = replied.parsed_data
    assert reply.in_reply_to_id == top["id"] and reply.user.login == "farcaster[bot]"
    assert world.sink.hits == []  # the App's own comment delivers nothing

    paged = world.api("GET", f"{base}/{pull.number}/comments", params={"per_page": 2})
    assert len(paged.json()) == 2 and 'rel="next"' in paged.headers["link"]
    counts = world.control.repo_state(OWNER, pull.repo)["review_comments"]
    assert counts == {"total": 3, "by_author": {"alice": 2, "farcaster[bot]": 1}, "replies": 1}
    pr = world.gh.rest.pulls.get(OWNER, pull.repo, pull.number).parsed_data
    assert pr.review_comments == 3


def test_replies_are_refused_where_github_refuses_them(world: World, pull: Pull) -> None:
    top = comment(world, pull, line=10)["comment"]
    base = f"/repos/{OWNER}/{pull.repo}/pulls/{pull.number}/comments"
    reply = world.api("POST", f"{base}/{top['id']}/replies", json={"body": "ok"}).json()
    nested = status_of(world, "POST", f"{base}/{reply['id']}/replies", json={"body": "x"})
    assert nested == 422
    assert status_of(world, "POST", f"{base}/1/replies", json={"body": "x"}) == 404
    assert status_of(world, "POST", f"{base}/{top['id']}/replies", json={}) == 422
    other = f"/repos/{OWNER}/{pull.repo}/pulls/{pull.number + 1000}/comments"
    assert status_of(world, "POST", f"{other}/{top['id']}/replies", json={"body": "x"}) == 404


def status_of(world: World, method: str, path: str, **kwargs: Any) -> int:
    try:
        return world.api(method, path, **kwargs).status_code
    except RequestFailed as exc:
        return exc.response.status_code


# -- the commit list -----------------------------------------------------------------------


def test_pull_commits_are_listed_oldest_first_with_accounts(world: World, pull: Pull) -> None:
    second = world.control.push(OWNER, pull.repo, "feature", {"b.txt": "b\n"}, user="alice")
    listed = world.gh.rest.pulls.list_commits(OWNER, pull.repo, pull.number).parsed_data
    assert [c.sha for c in listed] == [pull.head, second]
    first, last = listed
    assert first.commit.message == "Update feature"
    assert first.author is not None and first.author.login == "bob"
    assert last.committer is not None and last.committer.login == "alice"
    assert [p.sha for p in last.parents] == [pull.head]
    assert first.commit.author is not None and first.commit.author.name == "bob"
    raw = world.api("GET", f"/repos/{OWNER}/{pull.repo}/pulls/{pull.number}/commits").json()
    assert set(raw[0]) >= {"url", "sha", "node_id", "html_url", "comments_url", "commit"}
    assert raw[0]["commit"]["tree"]["sha"] and raw[0]["commit"]["verification"]


def test_pull_commits_page_and_stop_at_250(world: World, pull: Pull) -> None:
    git_dir = world.control.create_repo(OWNER, f"{pull.repo}-big", files={"a": "a\n"})["git_dir"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_DIR": git_dir,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "n",
        "GIT_AUTHOR_EMAIL": "n@example.test",
        "GIT_COMMITTER_NAME": "n",
        "GIT_COMMITTER_EMAIL": "n@example.test",
    }

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    tip = git("rev-parse", "refs/heads/main")
    tree = git("rev-parse", "main^{tree}")
    made = []
    for n in range(260):  # empty commits: only the history matters here
        tip = git("commit-tree", tree, "-p", tip, "-m", f"c{n}")
        made.append(tip)
    git("update-ref", "refs/heads/long", tip)
    big = f"{pull.repo}-big"
    pr = world.control.create_pull(OWNER, big, "long", "Long")
    path = f"/repos/{OWNER}/{big}/pulls/{pr['number']}/commits"

    first = world.api("GET", path, params={"per_page": 100})
    assert [c["sha"] for c in first.json()] == made[:100]
    assert re.search(r'[?&]page=3[^>]*>; rel="last"', first.headers["link"])
    last = world.api("GET", path, params={"per_page": 100, "page": 3}).json()
    assert [c["sha"] for c in last] == made[200:250]  # never more than 250 in all
    assert last[0]["author"] is None  # an e-mail no account has
    everything = list(
        world.gh.rest.paginate(
            world.gh.rest.pulls.list_commits,
            owner=OWNER,
            repo=big,
            pull_number=pr["number"],
            per_page=100,
        )
    )
    assert len(everything) == 250


# -- the file list -------------------------------------------------------------------------


def test_pull_files_list_what_the_pr_changes_with_patches(world: World, pull: Pull) -> None:
    world.control.push(
        OWNER, pull.repo, "feature", {"new.txt": "n\n", "keep.txt": None}, user="bob"
    )
    world.control.push(OWNER, pull.repo, "main", {"elsewhere.txt": "e\n"})  # not the PR's
    files = world.gh.rest.pulls.list_files(OWNER, pull.repo, pull.number).parsed_data
    by_name = {f.filename: f for f in files}
    assert sorted(by_name) == ["keep.txt", "new.txt", "notes.txt"]
    notes = by_name["notes.txt"]
    assert (notes.status, notes.additions, notes.deletions, notes.changes) == (
        "modified",
        2,
        1,
        3,
    )
    assert notes.patch is not None and notes.patch.startswith("@@ -7,7 +7,7 @@")
    assert "+line 30b" in notes.patch
    assert (by_name["new.txt"].status, by_name["keep.txt"].status) == ("added", "removed")
    assert by_name["new.txt"].patch == "@@ -0,0 +1 @@\n+n"
    path = f"/repos/{OWNER}/{pull.repo}/pulls/{pull.number}/files"
    paged = world.api("GET", path, params={"per_page": 2})
    assert len(paged.json()) == 2 and 'rel="next"' in paged.headers["link"]
