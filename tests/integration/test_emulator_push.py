"""``push`` webhooks: whenever a branch moves, whoever moved it.

A human's push (admin), a merged pull request, and refs created, moved or deleted through
the Git refs API by the App itself all deliver ``push`` with the keys of GitHub's examples;
API-caused ones are sent after the call answers (``drain_deliveries`` waits for them).
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

APP_ID = 71
QUIET_APP_ID = 72
INSTALLATION = 710
OWNER = "push-org"
ZERO = "0" * 40
HTTP = httpx.Client()


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    private_pem: str
    _token: str = ""

    def token(self) -> str:
        if self._token:
            return self._token
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        signed = jwt.encode(claims, self.private_pem, algorithm="RS256")
        minted = HTTP.post(
            f"{self.control.api_url}/app/installations/{INSTALLATION}/access_tokens",
            headers={"Authorization": f"Bearer {signed}"},
        )
        self._token = str(minted.json()["token"])
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {self.token()}"}
        return HTTP.request(method, self.control.api_url + path, headers=headers, **kwargs)

    def pushes(self) -> list[dict[str, Any]]:
        self.control.drain_deliveries()
        return self.sink.of("push")


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with running_sink() as record:
        yield record


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[World]:
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, slug="farcaster")
        # An App subscribed to comments only: GitHub never sends it a push.
        control.create_app(
            app_id=QUIET_APP_ID, webhook_url=sink.url, slug="quiet", events=["issue_comment"]
        )
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        control.create_installation(QUIET_APP_ID, OWNER)
        yield World(control, sink, app["private_key_pem"])
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(
        OWNER, name, files={"app.py": "def old():\n    return 1\n", "README.md": "hi\n"}
    )
    world.control.drain_deliveries()
    world.sink.hits.clear()
    return name


def head(world: World, repo: str, branch: str = "main") -> str:
    return str(world.control.repo_state(OWNER, repo)["branches"][branch])


# -- a human's push ------------------------------------------------------------------------


def test_a_humans_push_delivers_push_shaped_like_githubs(world: World, repo: str) -> None:
    world.control.set_permission(OWNER, repo, "alice", "write")
    before = head(world, repo)
    pushed = world.control.push_commit(
        OWNER,
        repo,
        "main",
        {"app.py": "def new():\n    return 2\n", "docs/new.md": "new\n", "README.md": None},
        message="Rework app",
        user="alice",
    )
    assert pushed["delivery"]["event"] == "push" and pushed["delivery"]["status"] == 202
    [hit] = world.sink.hits  # the comment-only App got nothing
    assert hit.headers["x-github-hook-id"] == str(APP_ID)
    event = hit.json()
    assert missing_keys(sample("push.with-new-branch.json"), event) == []
    assert (event["ref"], event["before"], event["after"]) == (
        "refs/heads/main",
        before,
        pushed["sha"],
    )
    assert (event["created"], event["deleted"], event["forced"], event["base_ref"]) == (
        False,
        False,
        False,
        None,
    )
    [commit] = event["commits"]
    assert commit["id"] == pushed["sha"] and commit["distinct"] is True
    assert commit["message"] == "Rework app"
    assert (commit["added"], commit["removed"], commit["modified"]) == (
        ["docs/new.md"],
        ["README.md"],
        ["app.py"],
    )
    assert commit["author"]["username"] == "alice" and commit["author"]["name"] == "alice"
    assert commit["url"].endswith(f"/{OWNER}/{repo}/commit/{pushed['sha']}")
    assert event["head_commit"] == commit
    assert event["compare"].endswith(f"/compare/{before[:12]}...{pushed['sha'][:12]}")
    assert event["pusher"]["name"] == "alice" and event["pusher"]["email"].endswith(
        "+alice@users.noreply.github.com"
    )
    assert event["sender"]["login"] == "alice" and event["installation"]["id"] == INSTALLATION
    repository = event["repository"]
    assert isinstance(repository["created_at"], int) and isinstance(repository["pushed_at"], int)
    assert repository["master_branch"] == "main" and repository["organization"] == OWNER
    assert repository["owner"]["name"] == OWNER


def test_a_new_branch_lists_only_commits_no_other_branch_had(world: World, repo: str) -> None:
    first = world.control.push_commit(OWNER, repo, "feature", {"a.txt": "a\n"}, user="bob")
    second = world.control.push_commit(OWNER, repo, "feature", {"b.txt": "b\n"}, user="bob")
    created, updated = world.pushes()
    assert (created["created"], created["before"], created["after"]) == (True, ZERO, first["sha"])
    assert [c["id"] for c in created["commits"]] == [first["sha"]]  # not main's history
    assert created["compare"].endswith("/compare/feature")
    assert (updated["created"], updated["before"]) == (False, first["sha"])
    assert [c["id"] for c in updated["commits"]] == [second["sha"]]
    assert updated["commits"][0]["added"] == ["b.txt"]


def test_a_force_push_is_forced_and_lists_the_new_commits(world: World, repo: str) -> None:
    world.control.push_commit(OWNER, repo, "topic", {"a.txt": "a\n"})
    old = head(world, repo, "topic")
    forced = world.control.push_commit(
        OWNER, repo, "topic", {"c.txt": "c\n"}, from_ref="main", force=True
    )
    event = world.pushes()[-1]
    assert (event["before"], event["after"], event["forced"]) == (old, forced["sha"], True)
    assert [c["id"] for c in event["commits"]] == [forced["sha"]]


def test_deleting_a_branch_delivers_a_deleted_push(world: World, repo: str) -> None:
    world.control.push_commit(OWNER, repo, "gone", {"a.txt": "a\n"})
    old = head(world, repo, "gone")
    world.control.delete_branch(OWNER, repo, "gone", user="alice")
    event = world.pushes()[-1]
    assert missing_keys(sample("push.with-installation.json"), event) == []
    assert (event["deleted"], event["before"], event["after"]) == (True, old, ZERO)
    assert event["commits"] == [] and event["head_commit"] is None
    assert event["compare"].endswith(f"/compare/{old[:12]}...{ZERO[:12]}")


# -- merges --------------------------------------------------------------------------------


def test_merging_a_pull_request_pushes_the_merge_commit_before_closing(
    world: World, repo: str
) -> None:
    pr_commit = world.control.push_commit(OWNER, repo, "feature", {"f.txt": "f\n"}, user="bob")
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature", user="bob")
    base_before = head(world, repo)
    world.sink.hits.clear()

    merged = world.control.close_pull(OWNER, repo, pr["number"], user="alice", merge=True)

    assert [hit.event for hit in world.sink.hits] == ["push", "pull_request"]
    event = world.sink.hits[0].json()
    merge_sha = merged["pull_request"]["merge_commit_sha"]
    assert (event["ref"], event["before"], event["after"]) == (
        "refs/heads/main",
        base_before,
        merge_sha,
    )
    assert [(c["id"], c["distinct"]) for c in event["commits"]] == [
        (pr_commit["sha"], False),  # the feature branch had it already
        (merge_sha, True),
    ]
    assert event["head_commit"]["id"] == merge_sha and event["pusher"]["name"] == "alice"
    assert merged["push_delivery"]["status"] == 202
    closed = world.sink.hits[1].json()
    assert (closed["action"], closed["pull_request"]["merged"]) == ("closed", True)


def test_closing_without_merging_pushes_nothing(world: World, repo: str) -> None:
    world.control.push_commit(OWNER, repo, "feature", {"f.txt": "f\n"})
    pr = world.control.create_pull(OWNER, repo, "feature", "Feature")
    world.sink.hits.clear()
    closed = world.control.close_pull(OWNER, repo, pr["number"], user="alice")
    assert [hit.event for hit in world.sink.hits] == ["pull_request"]
    assert closed["push_delivery"] is None
    assert world.sink.hits[0].json()["pull_request"]["merged"] is False


# -- the App's own ref changes through the API ---------------------------------------------


def _commit(world: World, repo: str, parent: str, path: str) -> str:
    tree_of_parent = world.api("GET", f"/repos/{OWNER}/{repo}/git/commits/{parent}").json()
    tree = world.api(
        "POST",
        f"/repos/{OWNER}/{repo}/git/trees",
        json={
            "base_tree": tree_of_parent["tree"]["sha"],
            "tree": [{"path": path, "mode": "100644", "type": "blob", "content": path}],
        },
    ).json()["sha"]
    made = world.api(
        "POST",
        f"/repos/{OWNER}/{repo}/git/commits",
        json={"message": f"add {path}", "tree": tree, "parents": [parent]},
    )
    return str(made.json()["sha"])


def test_refs_created_and_moved_through_the_api_deliver_push_from_the_apps_bot(
    world: World, repo: str
) -> None:
    main = head(world, repo)
    one = _commit(world, repo, main, "one.txt")
    created = world.api(
        "POST",
        f"/repos/{OWNER}/{repo}/git/refs",
        json={"ref": "refs/heads/farcaster/j1", "sha": one},
    )
    assert created.status_code == 201
    two = _commit(world, repo, one, "two.txt")
    moved = world.api(
        "PATCH", f"/repos/{OWNER}/{repo}/git/refs/heads/farcaster/j1", json={"sha": two}
    )
    assert moved.status_code == 200
    other = _commit(world, repo, main, "other.txt")
    forced = world.api(
        "PATCH",
        f"/repos/{OWNER}/{repo}/git/refs/heads/farcaster/j1",
        json={"sha": other, "force": True},
    )
    assert forced.status_code == 200

    first, second, third = world.pushes()
    assert (first["created"], first["before"], first["after"]) == (True, ZERO, one)
    assert [c["id"] for c in first["commits"]] == [one]
    assert (second["before"], second["after"], second["forced"]) == (one, two, False)
    assert [c["added"] for c in second["commits"]] == [["two.txt"]]
    assert (third["before"], third["after"], third["forced"]) == (two, other, True)
    for event in (first, second, third):
        assert missing_keys(sample("push.with-new-branch.json"), event) == []
        assert event["ref"] == "refs/heads/farcaster/j1"
        assert event["pusher"]["name"] == "farcaster[bot]"
        assert (event["sender"]["login"], event["sender"]["type"]) == ("farcaster[bot]", "Bot")


def test_a_refused_non_fast_forward_pushes_nothing(world: World, repo: str) -> None:
    main = head(world, repo)
    one = _commit(world, repo, main, "one.txt")
    world.api("POST", f"/repos/{OWNER}/{repo}/git/refs", json={"ref": "refs/heads/b", "sha": one})
    sideways = _commit(world, repo, main, "side.txt")
    refused = world.api("PATCH", f"/repos/{OWNER}/{repo}/git/refs/heads/b", json={"sha": sideways})
    assert refused.status_code == 422
    assert refused.json()["message"] == "Update is not a fast forward"
    assert refused.json()["documentation_url"].endswith("#update-a-reference")
    assert len(world.pushes()) == 1  # the creation only
    assert head(world, repo, "b") == one


def test_deleting_a_ref_through_the_api_answers_204_and_pushes_deleted(
    world: World, repo: str
) -> None:
    main = head(world, repo)
    world.api(
        "POST", f"/repos/{OWNER}/{repo}/git/refs", json={"ref": "refs/heads/tmp", "sha": main}
    )
    deleted = world.api("DELETE", f"/repos/{OWNER}/{repo}/git/refs/heads/tmp")
    assert (deleted.status_code, deleted.content) == (204, b"")
    again = world.api("DELETE", f"/repos/{OWNER}/{repo}/git/refs/heads/tmp")
    assert (again.status_code, again.json()["message"]) == (422, "Reference does not exist")
    created, gone = world.pushes()
    assert created["commits"] == [] and created["head_commit"]["id"] == main  # nothing new
    assert created["head_commit"]["distinct"] is False
    assert (gone["deleted"], gone["before"], gone["after"]) == (True, main, ZERO)


def test_refs_outside_branches_and_tags_push_nothing(world: World, repo: str) -> None:
    main = head(world, repo)
    made = world.api(
        "POST", f"/repos/{OWNER}/{repo}/git/refs", json={"ref": "refs/keep/bot/x", "sha": main}
    )
    assert made.status_code == 201
    tag = world.api(
        "POST", f"/repos/{OWNER}/{repo}/git/refs", json={"ref": "refs/tags/v1", "sha": main}
    )
    assert tag.status_code == 201
    assert [event["ref"] for event in world.pushes()] == ["refs/tags/v1"]


def test_api_pushes_do_not_wait_for_an_unreachable_app(world: World, repo: str) -> None:
    world.control.update_app(APP_ID, webhook_url="http://127.0.0.1:9/nowhere")
    try:
        main = head(world, repo)
        made = world.api(
            "POST", f"/repos/{OWNER}/{repo}/git/refs", json={"ref": "refs/heads/x", "sha": main}
        )
        assert made.status_code == 201
        world.control.drain_deliveries()
    finally:
        world.control.update_app(APP_ID, webhook_url=world.sink.url)
    [failed] = world.control.hook_deliveries(app_id=APP_ID)[:1]
    assert (failed["event"], failed["status"]) == ("push", "failed to connect to host")


def test_admin_push_refuses_force_without_a_starting_point(world: World, repo: str) -> None:
    with pytest.raises(EmulatorError) as refused:
        world.control.push_commit(OWNER, repo, "main", {"a": "b"}, force=True)
    assert refused.value.status == 422
