"""The delivery inbox: every verified webhook delivery, recorded once, with what it caused.

Rule: a delivery row is written in the same transaction as everything the delivery decided
(the job and its first event, the outbox items that carry feedback to GitHub), and the
HTTP answer is sent only after that transaction commits. So a crash before the commit
leaves nothing behind and GitHub's redelivery starts afresh; a crash after it means the
redelivery finds the row and creates nothing new.

Idempotency has two keys:

- ``delivery_id`` (``X-GitHub-Delivery``), unique: ``INSERT ... ON CONFLICT DO NOTHING``;
  the same delivery sent twice, even at the same instant, records one row.
- the job's idempotency key (``comment:<node_id>``), unique on the jobs table: another
  delivery about the same comment records its own row, with outcome ``job_exists`` and
  the existing job's id, and queues no second feedback.

The statements are in :mod:`bot.store.statements`; the job and outbox writes are composed
from :meth:`Store.enqueue_in` and :meth:`Outbox.put_in`.

On SQLite, which admits one writer at a time, intake's threads queue their write
transactions on a lock (see ``Deliveries.__init__``). Reads begin DEFERRED
(:meth:`Database.read`) and take no lock: under WAL they neither wait for nor block a writer.
"""

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bot.core.errors import JobNotFound, StoreError, WriteConflict
from bot.core.records import Job, NewJob
from bot.core.vocab import DeliveryOutcome, OutboxKind
from bot.store import statements as st
from bot.store.database import Database
from bot.store.outbox import Outbox
from bot.store.store import Store

# Two transactions racing to create the same job can, on PostgreSQL, collide on the jobs
# primary key rather than on the idempotency key that ON CONFLICT arbitrates; the loser
# simply runs again and then finds the job.
_ATTEMPTS_ON_RACE = 3


@dataclass(frozen=True)
class NewDelivery:
    """What intake decided about one verified delivery."""

    delivery_id: str
    event: str
    action: str | None
    payload_sha256: str
    outcome: DeliveryOutcome
    reason: str | None = None
    installation_id: int | None = None
    repo: str | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    payload_sha256: str
    received_at: float
    outcome: str
    reason: str | None
    job_id: str | None


@dataclass(frozen=True)
class OutboxPut:
    """An outbox item to queue with the delivery (see :meth:`Outbox.put_in`)."""

    key: str
    kind: OutboxKind
    payload: dict[str, Any]
    job_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    """The delivery as stored. ``new`` is False when an earlier copy was recorded first."""

    delivery: DeliveryRecord
    new: bool
    outbox_keys: tuple[str, ...] = field(default=())


class _AlreadyRecorded(Exception):
    """Raised inside the transaction to roll it back: this delivery id is taken."""


def _record_from_row(row: Mapping[Any, Any]) -> DeliveryRecord:
    return DeliveryRecord(**{f.name: row[f.name] for f in fields(DeliveryRecord)})


# -- the inbox ----------------------------------------------------------------------------


class Deliveries:
    """Records deliveries and what they decided, one transaction each."""

    def __init__(self, db: Database, store: Store, outbox: Outbox) -> None:
        self.db = db
        self.store = store
        self.outbox = outbox
        # SQLite has one writer at a time, and begins every write transaction with BEGIN
        # IMMEDIATE. Intake's threads queue on a lock instead of on SQLite's busy handler,
        # which sleeps in growing steps (up to 100 ms) and turns a burst of deliveries into
        # second-long tails.
        self._write_lock = threading.Lock() if db.dialect.one_writer else contextlib.nullcontext()

    def find(self, delivery_id: str) -> DeliveryRecord | None:
        with self.db.read() as conn:
            row = st.delivery_by_id(conn, delivery_id)
        return _record_from_row(row) if row else None

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

    def record(
        self,
        delivery: NewDelivery,
        *,
        job: NewJob | None = None,
        feedback: Sequence[OutboxPut] = (),
    ) -> Recorded:
        """Write the delivery, the job it creates (if any) and its feedback, all or nothing.

        With ``job``: when the job already exists (an earlier delivery about the same
        comment), the delivery is recorded as ``job_exists`` with that job's id and
        ``feedback`` is not queued again.
        """
        for attempt in range(_ATTEMPTS_ON_RACE):
            try:
                with self._write_lock:
                    return self._record_once(delivery, job=job, feedback=feedback)
            except _AlreadyRecorded:
                earlier = self.find(delivery.delivery_id)
                if earlier is None:  # pragma: no cover - the row we collided with vanished
                    raise StoreError(
                        f"Delivery {delivery.delivery_id} collided and then disappeared."
                    ) from None
                return Recorded(earlier, new=False)
            except WriteConflict as exc:
                if attempt == _ATTEMPTS_ON_RACE - 1:
                    raise StoreError(
                        f"Delivery {delivery.delivery_id} could not be recorded: {exc.message}"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_once(
        self, delivery: NewDelivery, *, job: NewJob | None, feedback: Sequence[OutboxPut]
    ) -> Recorded:
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            queue_feedback = True
            if job is not None:
                enqueued = self.store.enqueue_in(conn, job, now=at)
                delivery = replace(delivery, job_id=enqueued.job.id)
                if not enqueued.created:
                    queue_feedback = False
                    delivery = replace(
                        delivery,
                        outcome=DeliveryOutcome.JOB_EXISTS,
                        reason="an earlier delivery about the same comment created the job",
                    )
            # A copy of this delivery recorded first (on PostgreSQL, even one in flight: this
            # statement waits for it) makes this one write nothing: roll back what we did.
            row = st.insert_delivery_if_new(conn, {**asdict(delivery), "received_at": at})
            if row is None:
                raise _AlreadyRecorded
            record = _record_from_row(row)
            keys: list[str] = []
            if queue_feedback:
                for item in feedback:
                    if self.outbox.put_in(
                        conn, key=item.key, kind=item.kind, job_id=item.job_id, payload=item.payload
                    ):
                        keys.append(item.key)
            return Recorded(record, new=True, outbox_keys=tuple(keys))

    # -- reads for operators and tests ----------------------------------------------------

    def recent(self, *, limit: int = 100) -> list[DeliveryRecord]:
        with self.db.read() as conn:
            return [_record_from_row(r) for r in st.deliveries_newest_first(conn, limit=limit)]

    def count(self) -> int:
        with self.db.read() as conn:
            return st.count_deliveries(conn)
