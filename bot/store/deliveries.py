"""The delivery inbox: every verified webhook delivery, accepted once, then decided by triage.

Rules:

- **Accept.** Intake writes a delivery in ONE statement (``INSERT ... ON CONFLICT
  (delivery_id) DO NOTHING``) before it answers 202: its event, action, installation,
  repository, the body's SHA-256 and the raw body, zlib-compressed. Deliveries arriving
  together share the statement and its commit (group commit). The same delivery sent
  twice, even at the same instant, records one row. A store that cannot take the write
  raises :class:`~bot.core.errors.StoreUnavailable` (intake answers 503); on SQLite intake
  waits at most ``busy_timeout_ms`` for another writer. A connection the server closed is
  retried once on a fresh one, so a restarted PostgreSQL costs no delivery.
- **Undecided until triage.** A delivery intake could not settle by itself (anything but
  ``ping`` and events no handler takes) is ``undecided``. Triage leases it like a job
  (bot/store/delivery_leases.py) and records the decision with everything it caused (the job
  and its first event, the outbox items that carry feedback) in one fenced transaction.
- **Deduplication** has two keys: ``delivery_id`` (unique), and the job's idempotency key
  (``comment:<node_id>``, unique on jobs): another delivery about the same comment is
  decided ``job_exists`` with the existing job's id and queues no second feedback.
- **Retention.** Bodies of settled deliveries are emptied ``retention`` after receipt
  (:meth:`Deliveries.forget_bodies`); an undecided delivery keeps its body.

On SQLite, which admits one writer at a time, this process's writers queue on a lock (see
``Deliveries.__init__``). Reads begin DEFERRED (:meth:`Database.read`) and take no lock.
"""

import contextlib
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from bot.core.errors import JobNotFound, StoreUnavailable
from bot.core.records import Job
from bot.core.vocab import DeliveryOutcome, OutboxKind
from bot.store import statements as st
from bot.store.database import Database, once_more_if_lost
from bot.store.group_commit import GroupCommit
from bot.store.outbox import Outbox
from bot.store.store import Store

UNDECIDED = st.UNDECIDED
DECIDED = "decided"
FAILED = "failed"


@dataclass(frozen=True)
class IncomingDelivery:
    """A verified delivery as intake accepts it. ``outcome`` is set when intake settles it
    by itself (``ping``, an event nobody handles); otherwise triage decides."""

    delivery_id: str
    event: str
    action: str | None
    payload_sha256: str
    body: bytes
    installation_id: int | None = None
    repo: str | None = None
    outcome: DeliveryOutcome | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    payload_sha256: str
    received_at: float
    state: str
    outcome: str | None
    reason: str | None
    job_id: str | None
    attempts: int
    run_after: float
    lease_owner: str | None
    lease_expires_at: float | None
    fencing_token: int
    last_error: str | None
    decided_at: float | None


@dataclass(frozen=True)
class OutboxPut:
    """An outbox item to queue with the decision (see :meth:`Outbox.put_in`)."""

    key: str
    kind: OutboxKind
    payload: dict[str, Any]
    job_id: str | None = None


@dataclass(frozen=True)
class Accepted:
    """What intake's insert found: ``new`` False when an earlier copy was accepted first."""

    delivery_id: str
    new: bool
    state: str


class _RolledBack(Exception):
    """Raised inside a probe's transaction so that it rolls back."""


def record_from_row(row: Mapping[Any, Any]) -> DeliveryRecord:
    return DeliveryRecord(**{f.name: row[f.name] for f in fields(DeliveryRecord)})


def compress(body: bytes) -> bytes:
    return zlib.compress(body, 1)  # the fastest level: intake pays it on every delivery


def decompress(stored: bytes) -> bytes:
    return zlib.decompress(stored)


class Deliveries:
    """The inbox's writes and reads (the triage lease is in bot/store/delivery_leases.py)."""

    def __init__(self, db: Database, store: Store, outbox: Outbox) -> None:
        self.db = db
        self.store = store
        self.outbox = outbox
        # SQLite has one writer at a time and begins every write transaction with BEGIN
        # IMMEDIATE. This process's writers queue on a lock instead of on SQLite's busy
        # handler, which sleeps in growing steps (up to 100 ms) and turns a burst of
        # deliveries into second-long tails.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if db.dialect.one_writer else None
        )
        self._intake: GroupCommit[tuple[dict[str, Any], int], str | None] = GroupCommit(
            self._accept_batch
        )

    @contextlib.contextmanager
    def writing(self, *, timeout: float = -1) -> Iterator[None]:
        """Hold this process's write turn (SQLite only); StoreUnavailable after ``timeout``."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=timeout):
            raise StoreUnavailable(f"The database is busy: no write turn within {timeout:.1f} s.")
        try:
            yield
        finally:
            self._write_lock.release()

    # -- intake ---------------------------------------------------------------------------

    def accept(self, delivery: IncomingDelivery, *, busy_timeout_ms: int) -> Accepted:
        """Store the delivery; see the module rules. Concurrent calls share one statement
        and one commit (bot/store/group_commit.py)."""
        values = {
            "delivery_id": delivery.delivery_id,
            "event": delivery.event,
            "action": delivery.action,
            "installation_id": delivery.installation_id,
            "repo": delivery.repo,
            "payload_sha256": delivery.payload_sha256,
            "body": compress(delivery.body),
            "state": UNDECIDED if delivery.outcome is None else DECIDED,
            "outcome": delivery.outcome,
            "reason": delivery.reason,
        }
        state = self._intake.submit((values, busy_timeout_ms), timeout=busy_timeout_ms / 1000)
        if state is not None:
            return Accepted(delivery.delivery_id, new=True, state=state)
        earlier = self.find(delivery.delivery_id)
        return Accepted(
            delivery.delivery_id, new=False, state=earlier.state if earlier else UNDECIDED
        )

    def _accept_batch(self, items: Sequence[tuple[dict[str, Any], int]]) -> list[str | None]:
        """One statement for every queued delivery; each one's new state, or None when its
        delivery id was stored before (a copy earlier in the same batch counts)."""
        busy_ms = min(ms for _, ms in items)
        rows = [values for values, _ in items]

        def write() -> dict[str, str]:
            with (
                self.writing(timeout=busy_ms / 1000),
                self.db.single_statement(busy_timeout_ms=busy_ms) as conn,
            ):
                return st.accept_deliveries_if_new(conn, rows)

        written = once_more_if_lost(write)
        answers: list[str | None] = []
        for row in rows:  # a second copy in the batch is a duplicate of the first
            answers.append(written.pop(row["delivery_id"], None))
        return answers

    def check_writable(self) -> None:
        """Write a row and roll it back: StoreUnavailable when the store refuses writes (a
        read-only file, a standby). A connection the server had closed is retried once, as
        in :meth:`accept`."""

        def probe() -> None:
            try:
                with self.writing(), self.db.transaction() as conn:
                    st.probe_write(conn, self.db.now(conn))
                    raise _RolledBack
            except _RolledBack:
                return

        once_more_if_lost(probe)

    def forget_bodies(self, *, retention_seconds: float, now: float | None = None) -> int:
        """Empty the bodies of settled deliveries older than the retention; how many."""
        with self.writing(), self.db.transaction() as conn:
            before = self.db.now(conn, now) - retention_seconds
            return st.forget_delivery_bodies(conn, before=before)

    # -- reads ----------------------------------------------------------------------------

    def find(self, delivery_id: str) -> DeliveryRecord | None:
        with self.db.read() as conn:
            row = st.delivery_by_id(conn, delivery_id)
        return record_from_row(row) if row else None

    def comment_history(self, job_id: str, outbox_keys: Sequence[str]) -> tuple[Job | None, bool]:
        """The job a comment created, if any, and whether feedback about it was queued.

        The outbox is read first: feedback and its job commit together, so once the
        feedback is visible, the job read next is too (no answer is missed in between).
        """
        with self.db.read() as conn:
            answered = st.any_outbox_key_exists(conn, outbox_keys)
            try:
                job = st.get_job(conn, job_id)
            except JobNotFound:
                job = None
            return job, answered

    def recent(self, *, limit: int = 100, state: str | None = None) -> list[DeliveryRecord]:
        with self.db.read() as conn:
            rows = st.deliveries_newest_first(conn, limit=limit, state=state)
        return [record_from_row(r) for r in rows]

    def count(self) -> int:
        with self.db.read() as conn:
            return st.count_deliveries(conn)

    def known(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of these delivery ids the inbox holds."""
        with self.db.read() as conn:
            return st.delivery_ids_known(conn, delivery_ids)

    def backlog(self) -> tuple[int, float | None]:
        """Undecided deliveries and the oldest one's age in seconds (database clock)."""
        with self.db.read() as conn:
            count, oldest = st.undecided_backlog(conn)
            age = None if oldest is None else max(0.0, self.db.now(conn) - oldest)
        return count, age

    def by_outcome(self) -> dict[str, int]:
        with self.db.read() as conn:
            return st.count_deliveries_by_outcome(conn)
