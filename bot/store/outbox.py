"""The outbox: GitHub calls queued in the same transaction as the decision that needs them.

Webhook intake must answer in milliseconds and never lose a reply; a tombstone must get its
report even if the process dies right after deciding. So both write an outbox item in
their transaction, and workers drain it: lease an item, do the (idempotent) call, mark it
done. An item that keeps failing is retried with backoff, then parked as ``dead``.

Lanes: the items that write a job's status comment (its edits to queued, running, applying,
and its tombstone or cancel report) are handed out one at a time per job: none while
another is leased, and a batch takes only the job's earliest due one. The comment is found
by its marker, else created, and GitHub cannot create it idempotently: two drainers holding
two of a job's items at once would each find none and post two comments. Order needs no
more than that: an edit to a phase the job has left writes nothing (proposals/progress.py),
so an edit waiting out a backoff does not hold back the report queued after it. Every other
item goes as soon as it is due.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from bot.core.retry import backoff_seconds
from bot.store import statements as st
from bot.store.database import Database

MAX_OUTBOX_ATTEMPTS = 8


def status_comment_key(job_id: str, state: str) -> str:
    """The key of the edit of a job's status comment to ``state``: one per job and state."""
    return f"status:{job_id}:{state}"


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: str
    job_id: str | None
    payload: dict[str, Any]
    attempts: int
    lease_owner: str


class Outbox:
    def __init__(
        self, db: Database, *, lease_seconds: float = 30.0, jitter: Any = random.random
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self._jitter = jitter

    def put(self, *, key: str, kind: str, job_id: str | None, payload: dict[str, Any]) -> bool:
        with self.db.transaction() as conn:
            return self.put_in(conn, key=key, kind=kind, job_id=job_id, payload=payload)

    def put_in(
        self,
        conn: Connection,
        *,
        key: str,
        kind: str,
        job_id: str | None,
        payload: dict[str, Any],
    ) -> bool:
        return st.put_outbox_item(
            conn, key=key, kind=kind, job_id=job_id, payload=payload, now=self.db.now(conn)
        )

    def claim(
        self, owner: str, *, limit: int = 10, now: float | None = None, key: str | None = None
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due items, oldest first; ``key``: only that one, if it is due
        and nobody holds it (a job's own step that must come before its next write)."""
        with self.db.transaction() as conn:
            rows = st.lease_due_outbox_items(
                conn,
                owner=owner,
                now=self.db.now(conn, now),
                lease_seconds=self.lease_seconds,
                limit=limit,
                key=key,
            )
        return [
            OutboxItem(
                id=r["id"],
                key=r["key"],
                kind=r["kind"],
                job_id=r["job_id"],
                payload=r["payload"],
                attempts=r["attempts"],
                lease_owner=owner,
            )
            for r in rows
        ]

    def done(self, item: OutboxItem) -> None:
        self.done_many([item])

    def done_many(self, items: Sequence[OutboxItem]) -> None:
        """Mark a drained batch done in one transaction (one commit, not one per item)."""
        if not items:
            return
        by_owner: dict[str, list[int]] = {}
        for item in items:
            by_owner.setdefault(item.lease_owner, []).append(item.id)
        with self.db.transaction() as conn:
            for owner, ids in by_owner.items():
                st.mark_outbox_items_done(conn, ids, owner)

    def postpone(self, item: OutboxItem, reason: str, *, delay: float) -> None:
        """Try again after ``delay`` without counting this try (GitHub asked us to wait)."""
        with self.db.transaction() as conn:
            st.update_outbox_item_if_owner(
                conn,
                item.id,
                item.lease_owner,
                {
                    "state": "pending",
                    "run_after": self.db.now(conn) + delay,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error": reason[:2000],
                },
                refund_attempt=True,
            )

    def failed(
        self,
        item: OutboxItem,
        error: str,
        *,
        retry_after: float | None = None,
        dead: bool = False,
    ) -> str:
        """Back off and try again later, or park the item as dead; returns the new state.

        ``dead=True`` parks it at once: waiting would not help (no handler for its kind,
        GitHub refused the call for good).
        """
        dead = dead or item.attempts >= MAX_OUTBOX_ATTEMPTS
        delay = (
            retry_after
            if retry_after is not None
            else backoff_seconds(item.attempts, base=1.0, cap=120.0, jitter=self._jitter)
        )
        state = "dead" if dead else "pending"
        with self.db.transaction() as conn:
            st.update_outbox_item_if_owner(
                conn,
                item.id,
                item.lease_owner,
                {
                    "state": state,
                    "run_after": self.db.now(conn) + delay,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error": error[:2000],
                },
            )
        return state

    def pending_count(self) -> int:
        with self.db.read() as conn:
            return st.count_pending_outbox_items(conn)

    def items(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            return st.outbox_items(conn, kind=kind)
