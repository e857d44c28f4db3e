"""The outbox: GitHub calls queued in the same transaction as the decision that needs them.

Webhook intake must answer in milliseconds and never lose a reply; a tombstone must get its
report even if the process dies right after deciding. So both write an outbox item in
their transaction, and workers drain it: lease an item, do the (idempotent) call, mark it
done. An item that keeps failing is retried with backoff, then parked as ``dead``.
"""

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text, update

from bot.core.retry import backoff_seconds
from bot.store import statements as st
from bot.store.database import Database
from bot.store.tables import OUTBOX

MAX_OUTBOX_ATTEMPTS = 8


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: str
    job_id: str | None
    payload: dict[str, Any]
    attempts: int
    lease_owner: str


_PICK = """
    SELECT id FROM outbox
    WHERE state = 'pending' AND run_after <= :now
      AND (lease_expires_at IS NULL OR lease_expires_at < :now)
    ORDER BY run_after, id LIMIT :limit
"""
_PICK_POSTGRES = text(_PICK + " FOR UPDATE SKIP LOCKED")
_PICK_SQLITE = text(_PICK)


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

    def claim(self, owner: str, *, limit: int = 10, now: float | None = None) -> list[OutboxItem]:
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            pick = _PICK_POSTGRES if conn.dialect.name == "postgresql" else _PICK_SQLITE
            ids = [r[0] for r in conn.execute(pick, {"now": at, "limit": limit})]
            if not ids:
                return []
            rows = conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(ids))
                .values(
                    lease_owner=owner,
                    lease_expires_at=at + self.lease_seconds,
                    attempts=OUTBOX.c.attempts + 1,
                )
                .returning(*OUTBOX.c)
            ).mappings()
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
                for r in sorted(rows, key=lambda r: r["id"])
            ]

    def done(self, item: OutboxItem) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == item.id, OUTBOX.c.lease_owner == item.lease_owner)
                .values(state="done", lease_owner=None, lease_expires_at=None, last_error=None)
            )

    def postpone(self, item: OutboxItem, reason: str, *, delay: float) -> None:
        """Try again after ``delay`` without counting this try (GitHub asked us to wait)."""
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == item.id, OUTBOX.c.lease_owner == item.lease_owner)
                .values(
                    state="pending",
                    run_after=at + delay,
                    attempts=OUTBOX.c.attempts - 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=reason[:2000],
                )
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
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            dead = dead or item.attempts >= MAX_OUTBOX_ATTEMPTS
            delay = (
                retry_after
                if retry_after is not None
                else backoff_seconds(item.attempts, base=1.0, cap=120.0, jitter=self._jitter)
            )
            state = "dead" if dead else "pending"
            conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == item.id, OUTBOX.c.lease_owner == item.lease_owner)
                .values(
                    state=state,
                    run_after=at + delay,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=error[:2000],
                )
            )
            return state

    def pending_count(self) -> int:
        with self.db.engine.connect() as conn:
            return len(conn.execute(select(OUTBOX.c.id).where(OUTBOX.c.state == "pending")).all())

    def items(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        if kind:
            stmt = stmt.where(OUTBOX.c.kind == kind)
        with self.db.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]
