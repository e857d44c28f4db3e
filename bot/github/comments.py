"""The bot's marked comments: find the comment holding a hidden marker, then edit or create it.

A marker is an HTML comment (``<!-- farcaster:... -->``) the bot puts in a body so that it
can find that comment again: the job's status comment, a reply to a command. One rule says
which comments count: only a bot's (:func:`is_bot`), so a person quoting the marker never
captures the bot's comment. Upserting is idempotent: doing it twice leaves one comment with
the body, edited only when it differs.
"""

from collections.abc import Callable
from typing import Any

from bot.core.errors import GitHubRefused
from bot.github.client import GitHubClient


def is_bot(user: Any) -> bool:
    """Whether a comment's author is a bot account (GitHub Apps post as ``name[bot]``)."""
    if not isinstance(user, dict):
        return False
    login = str(user.get("login") or "")
    return user.get("type") == "Bot" or login.lower().endswith("[bot]")


def find_marked_comment(
    gh: GitHubClient, owner: str, name: str, issue: int, marker: str
) -> dict[str, Any] | None:
    """The first comment on ``issue`` by a bot whose body holds ``marker``."""
    for comment in gh.list_issue_comments(owner, name, issue):
        if marker in str(comment.get("body") or "") and is_bot(comment.get("user")):
            return comment
    return None


def upsert_marked_comment(
    gh: GitHubClient,
    owner: str,
    name: str,
    issue: int,
    marker: str,
    body: str,
    *,
    known: int | None = None,
    before_create: Callable[[], None] = lambda: None,
) -> int:
    """Edit the bot's comment holding ``marker`` (``known``: its id, if recorded), or post
    ``body`` when there is none. ``before_create`` runs right before posting. Returns its id.
    """
    if marker not in body:
        raise ValueError("a marked comment's body must hold its marker")
    if known is not None:
        try:
            gh.update_issue_comment(owner, name, known, body)
            return known
        except GitHubRefused as exc:
            if exc.status != 404:  # someone deleted it: look again, then post a new one
                raise
    found = find_marked_comment(gh, owner, name, issue, marker)
    if found is not None:
        if found.get("body") != body:
            gh.update_issue_comment(owner, name, int(found["id"]), body)
        return int(found["id"])
    before_create()
    return int(gh.create_issue_comment(owner, name, issue, body)["id"])
