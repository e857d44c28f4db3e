"""One upsert for the bot's marked comments (status comments and replies alike)."""

from typing import Any

import pytest

from bot.core.errors import GitHubRefused
from bot.github.comments import is_bot, upsert_marked_comment

MARK = "<!-- farcaster:job=abc -->"
BOT = {"login": "farcaster[bot]", "type": "Bot"}
HUMAN = {"login": "octocat", "type": "User"}


class Comments:
    """The three issue-comment calls of GitHubClient, on one issue, in memory."""

    def __init__(self, *existing: tuple[str, dict[str, str]]) -> None:
        self.comments = {n: {"id": n, "body": b, "user": u} for n, (b, u) in enumerate(existing)}
        self.calls: list[str] = []

    def list_issue_comments(self, owner: str, name: str, issue: int) -> list[dict[str, Any]]:
        self.calls.append("list")
        return [dict(c) for c in self.comments.values()]

    def update_issue_comment(self, owner: str, name: str, cid: int, body: str) -> dict[str, Any]:
        self.calls.append(f"update {cid}")
        if cid not in self.comments:
            raise GitHubRefused("Not Found", status=404)
        self.comments[cid]["body"] = body
        return self.comments[cid]

    def create_issue_comment(self, owner: str, name: str, issue: int, body: str) -> dict[str, Any]:
        cid = len(self.comments) + 100
        self.calls.append(f"create {cid}")
        self.comments[cid] = {"id": cid, "body": body, "user": BOT}
        return self.comments[cid]


def upsert(gh: Comments, body: str, **kwargs: Any) -> int:
    return upsert_marked_comment(gh, "o", "r", 7, MARK, body, **kwargs)  # type: ignore[arg-type]


def test_the_first_upsert_posts_and_the_second_edits_the_same_comment() -> None:
    gh = Comments()
    first = upsert(gh, f"{MARK}\nqueued")
    second = upsert(gh, f"{MARK}\ndone")
    assert first == second
    assert [c["body"] for c in gh.comments.values()] == [f"{MARK}\ndone"]


def test_an_unchanged_body_is_not_written_again() -> None:
    gh = Comments((f"{MARK}\ndone", BOT))
    assert upsert(gh, f"{MARK}\ndone") == 0
    assert gh.calls == ["list"]


def test_a_person_quoting_the_marker_does_not_capture_the_bots_comment() -> None:
    gh = Comments((f"> {MARK}\nwhy?", HUMAN))
    created = upsert(gh, f"{MARK}\nqueued")
    assert created != 0
    assert gh.comments[0]["body"] == f"> {MARK}\nwhy?"


def test_a_known_comment_someone_deleted_is_posted_again() -> None:
    gh = Comments()
    made: list[str] = []
    cid = upsert(gh, f"{MARK}\nx", known=55, before_create=lambda: made.append("hold"))
    assert gh.calls == ["update 55", "list", f"create {cid}"]
    assert made == ["hold"]


def test_a_body_without_its_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="marker"):
        upsert(Comments(), "no marker here")


@pytest.mark.parametrize(
    ("user", "bot"),
    [(BOT, True), ({"login": "other-app[bot]"}, True), (HUMAN, False), (None, False), ({}, False)],
)
def test_only_bot_accounts_count(user: Any, bot: bool) -> None:
    assert is_bot(user) is bot
