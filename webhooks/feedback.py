"""Feedback on a comment (an ``eyes`` reaction, a reply), queued by triage, done by workers.

Triage never calls GitHub to write: it queues outbox items in the transaction that records
the delivery's decision, and the outbox drainer (bot/worker/outbox.py) runs the handlers below.

Item kinds and payloads:

- ``reaction``: ``{repo, installation_id, comment_id, content}``. GitHub answers 200 for a
  reaction that exists already, so doing it twice is harmless.
- ``reply``: ``{repo, installation_id, issue_number, marker, body}``. The body carries the
  hidden ``marker``; the handler edits the bot's comment holding it instead of posting
  again (bot/github/comments.py), so a replayed item never doubles a reply.

Outbox keys are derived from the comment (``comment:<node_id>``, see webhooks/keys.py), so a
second delivery about the same comment cannot queue a second reaction or reply.
"""

from collections.abc import Callable
from typing import Any

from bot.core.vocab import OutboxKind
from bot.github.comments import upsert_marked_comment
from bot.store.deliveries import OutboxPut
from bot.store.outbox import OutboxItem
from bot.worker.services import Services


def reply_marker(key: str) -> str:
    return f"<!-- farcaster:reply={key} -->"


def reaction_item(
    *,
    key: str,
    repo: str,
    installation_id: int,
    comment_id: int,
    content: str = "eyes",
    job_id: str | None = None,
) -> OutboxPut:
    return OutboxPut(
        key=f"reaction:{key}:{content}",
        kind=OutboxKind.REACTION,
        job_id=job_id,
        payload={
            "repo": repo,
            "installation_id": installation_id,
            "comment_id": comment_id,
            "content": content,
        },
    )


def reply_item(
    *,
    key: str,
    repo: str,
    installation_id: int,
    issue_number: int,
    body: str,
    job_id: str | None = None,
) -> OutboxPut:
    marker = reply_marker(key)
    return OutboxPut(
        key=f"reply:{key}",
        kind=OutboxKind.REPLY,
        job_id=job_id,
        payload={
            "repo": repo,
            "installation_id": installation_id,
            "issue_number": issue_number,
            "marker": marker,
            "body": f"{body}\n\n{marker}",
        },
    )


def outbox_keys_of(key: str) -> tuple[str, ...]:
    """The outbox keys feedback about comment ``key`` may have used (to spot a handled one)."""
    return (f"reaction:{key}:eyes", f"reply:{key}")


# -- drainer handlers ---------------------------------------------------------------------


def _split_repo(payload: dict[str, Any]) -> tuple[str, str]:
    owner, name = str(payload["repo"]).split("/", 1)
    return owner, name


def handle_reaction(services: Services, item: OutboxItem) -> None:
    """Add the reaction to the comment."""
    payload = item.payload
    owner, name = _split_repo(payload)
    github = services.github(int(payload["installation_id"]))
    github.add_comment_reaction(owner, name, int(payload["comment_id"]), str(payload["content"]))


def handle_reply(services: Services, item: OutboxItem) -> None:
    """Post the reply once: edit the bot comment holding the marker, or create it."""
    payload = item.payload
    owner, name = _split_repo(payload)
    marker = str(payload["marker"])
    body = str(payload["body"])
    if marker not in body:
        body = f"{body}\n\n{marker}"
    github = services.github(int(payload["installation_id"]))
    upsert_marked_comment(github, owner, name, int(payload["issue_number"]), marker, body)


FEEDBACK_HANDLERS: dict[str, Callable[[Services, OutboxItem], None]] = {
    OutboxKind.REACTION: handle_reaction,
    OutboxKind.REPLY: handle_reply,
}
