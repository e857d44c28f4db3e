"""The feedback handlers (reaction, reply) against a respx-mocked GitHub, via the drainer."""

import httpx
import pytest
import respx
from githubkit.cache import MemCacheStrategy

from bot.app.runtime import Runtime
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Database, Store
from bot.store.outbox import Outbox
from bot.worker.outbox import drain_outbox
from webhooks.feedback import FEEDBACK_HANDLERS, reaction_item, reply_item

API = "http://github.test/api/v3"
REPO = "/repos/octo/hello"
MARKER_KEY = "comment:IC_node42"


@pytest.fixture
def github():
    with respx.mock(base_url=API, assert_all_called=False) as mock:
        mock.post("/app/installations/7/access_tokens").respond(
            201, json={"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"}
        )
        yield mock


@pytest.fixture
def runtime(settings: Settings, database: Database, store: Store, outbox: Outbox) -> Runtime:
    def factory(installation_id: int) -> GitHubClient:
        return GitHubClient.for_installation(settings, installation_id, cache=MemCacheStrategy())

    return Runtime(settings=settings, db=database, store=store, outbox=outbox, github=factory)


def queue(outbox: Outbox, item) -> None:
    outbox.put(key=item.key, kind=item.kind, job_id=item.job_id, payload=item.payload)


def a_reply(body: str = "Hello from Farcaster."):
    return reply_item(
        key=MARKER_KEY, repo="octo/hello", installation_id=7, issue_number=3, body=body
    )


def bot_comment(comment_id: int, body: str) -> dict:
    return {"id": comment_id, "body": body, "user": {"login": "farcaster[bot]", "type": "Bot"}}


def states(outbox: Outbox) -> list[str]:
    return [i["state"] for i in outbox.items()]


def test_the_reaction_is_posted_to_the_comment(runtime, outbox, github):
    react = github.post(f"{REPO}/issues/comments/99/reactions").respond(201, json={"id": 1})
    queue(
        outbox, reaction_item(key=MARKER_KEY, repo="octo/hello", installation_id=7, comment_id=99)
    )
    assert drain_outbox(runtime, "w", FEEDBACK_HANDLERS) == 1
    assert react.call_count == 1
    assert react.calls.last.request.content == b'{"content":"eyes"}'
    assert react.calls.last.request.headers["authorization"] == "token ghs_test"
    assert states(outbox) == ["done"]


def test_a_reply_is_created_with_its_hidden_marker_when_none_exists(runtime, outbox, github):
    github.get(f"{REPO}/issues/3/comments").respond(
        200, json=[{"id": 1, "body": "LGTM", "user": {"login": "alice", "type": "User"}}]
    )
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 2})
    queue(outbox, a_reply())
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert create.call_count == 1
    posted = create.calls.last.request.read().decode()
    assert "Hello from Farcaster." in posted
    assert "<!-- farcaster:reply=comment:IC_node42 -->" in posted
    assert states(outbox) == ["done"]


def test_a_reply_already_posted_is_edited_not_posted_twice(runtime, outbox, github):
    item = a_reply("New words.")
    old = bot_comment(5, "Old words.\n\n<!-- farcaster:reply=comment:IC_node42 -->")
    github.get(f"{REPO}/issues/3/comments").respond(200, json=[old])
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 6})
    update = github.patch(f"{REPO}/issues/comments/5").respond(200, json={"id": 5})
    queue(outbox, item)
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert create.call_count == 0
    assert update.call_count == 1
    assert "New words." in update.calls.last.request.read().decode()


def test_a_replayed_reply_with_the_same_words_makes_no_call_at_all(runtime, outbox, github):
    item = a_reply()
    github.get(f"{REPO}/issues/3/comments").respond(
        200, json=[bot_comment(5, item.payload["body"])]
    )
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 6})
    update = github.patch(f"{REPO}/issues/comments/5").respond(200, json={"id": 5})
    queue(outbox, item)
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert (create.call_count, update.call_count) == (0, 0)
    assert states(outbox) == ["done"]


def test_a_person_quoting_the_marker_does_not_take_the_reply_over(runtime, outbox, github):
    human = {
        "id": 5,
        "body": "copied: <!-- farcaster:reply=comment:IC_node42 -->",
        "user": {"login": "mallory", "type": "User"},
    }
    github.get(f"{REPO}/issues/3/comments").respond(200, json=[human])
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 6})
    update = github.patch(f"{REPO}/issues/comments/5").respond(200, json={"id": 5})
    queue(outbox, a_reply())
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert (create.call_count, update.call_count) == (1, 0)


def test_the_marker_is_found_on_a_later_page_of_comments(runtime, outbox, github):
    item = a_reply()
    first = [
        {"id": n, "body": "chatter", "user": {"login": "bob", "type": "User"}} for n in range(100)
    ]
    pages = github.get(f"{REPO}/issues/3/comments")
    pages.side_effect = [
        httpx.Response(200, json=first),
        httpx.Response(200, json=[bot_comment(500, item.payload["body"])]),
    ]
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 6})
    queue(outbox, item)
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert pages.call_count == 2
    assert create.call_count == 0


def test_github_down_leaves_the_reply_pending_for_later(runtime, outbox, github):
    github.get(f"{REPO}/issues/3/comments").respond(502, json={"message": "Bad Gateway"})
    create = github.post(f"{REPO}/issues/3/comments").respond(201, json={"id": 6})
    queue(outbox, a_reply())
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert create.call_count == 0
    (item,) = outbox.items()
    assert item["state"] == "pending"
    assert "github_unavailable" in item["last_error"]


def test_a_reaction_on_a_deleted_comment_is_given_up(runtime, outbox, github):
    github.post(f"{REPO}/issues/comments/99/reactions").respond(404, json={"message": "Not Found"})
    queue(
        outbox, reaction_item(key=MARKER_KEY, repo="octo/hello", installation_id=7, comment_id=99)
    )
    drain_outbox(runtime, "w", FEEDBACK_HANDLERS)
    assert states(outbox) == ["dead"]
