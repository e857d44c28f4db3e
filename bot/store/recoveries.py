"""The recovery sweep's memory: how far back it has read GitHub's deliveries, what it asked
GitHub to redeliver (one append-only row each; see webhooks/recovery.py), and when the next
sweep is due, shared by every process (:meth:`Recoveries.take_turn`)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.store import statements as st
from bot.store.database import Database

REDELIVERY_REQUESTED = "redelivery_requested"
REDELIVERY_REFUSED = "redelivery_refused"


@dataclass(frozen=True)
class Recovery:
    guid: str
    hook_delivery_id: int
    event: str
    action: str | None
    status: str
    outcome: str
    reason: str | None
    at: float


class Recoveries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def watermark(self, name: str) -> int | None:
        with self.db.read() as conn:
            return st.recovery_watermark(conn, name)

    def set_watermark(self, name: str, hook_delivery_id: int) -> None:
        with self.db.transaction() as conn:
            st.set_recovery_watermark(conn, name, hook_delivery_id, self.db.now(conn))

    def take_turn(
        self, name: str, owner: str, *, every_seconds: float, now: float | None = None
    ) -> bool:
        """True when the sweep ``name`` is due and ``owner`` takes it; the next one is then due
        ``every_seconds`` later (database clock), whichever process asks first."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            return st.take_sweep_turn(conn, name, owner, now=at, every=every_seconds)

    def asked_since(self, guids: Sequence[str], *, seconds_ago: float) -> dict[str, int]:
        """Of ``guids``, those asked for in the last ``seconds_ago`` seconds, each with the
        newest attempt id asked about."""
        with self.db.read() as conn:
            since = self.db.now(conn) - seconds_ago
            return st.recovered_guids_since(conn, guids, since=since)

    def record(self, **values: Any) -> None:
        with self.db.transaction() as conn:
            st.insert_recovery(conn, {**values, "at": self.db.now(conn)})

    def recent(self, *, limit: int = 100) -> list[Recovery]:
        with self.db.read() as conn:
            rows = st.recoveries_newest_first(conn, limit=limit)
        return [Recovery(**{k: r[k] for k in Recovery.__dataclass_fields__}) for r in rows]
