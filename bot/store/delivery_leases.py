"""Triage's lease on undecided deliveries: claim, then decide, put off or fail, fenced.

Rules (the same as a job's lease, bot/store/statements.py):

- A claim leases due undecided deliveries (``run_after <= now``, no live lease) oldest
  first: ``lease_owner``, ``lease_expires_at = now + lease`` from the database clock, and
  ``fencing_token + 1``; it counts one attempt. A holder that dies lets its lease run out,
  and the next claim takes the delivery over with a new token.
- Every later write names the token it holds and touches the row only while that token is
  current and the delivery undecided; otherwise it writes nothing and returns None (the
  caller lost the delivery to another holder).
- :meth:`DeliveryLeases.decide` writes the decision, the job with its first event and the
  feedback in ONE transaction, and with them the body compressed when intake stored it
  raw (bot/store/deliveries.py, Body): a settled delivery keeps its body compressed only.
  When the comment's job exists already, the decision becomes ``job_exists`` with that
  job's id and the feedback is not queued again.
- :meth:`DeliveryLeases.put_off` gives the delivery back for later (``run_after``), with the
  error that made it wait; a wait GitHub asked for gives the attempt back.
- :meth:`DeliveryLeases.fail` settles it as ``failed`` with its reason (the body compressed
  as in a decision): nothing is dropped.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.errors import StoreError, WriteConflict
from bot.core.records import NewJob
from bot.core.vocab import DeliveryOutcome
from bot.store import statements as st
from bot.store.deliveries import (
    DECIDED,
    FAILED,
    Deliveries,
    DeliveryRecord,
    OutboxPut,
    compress,
    record_from_row,
    stored_body,
)

# Two transactions racing to create the same job can, on PostgreSQL, collide on the jobs
# primary key rather than on the idempotency key that ON CONFLICT arbitrates; the loser
# simply runs again and then finds the job.
_ATTEMPTS_ON_RACE = 3


@dataclass(frozen=True)
class ClaimedDelivery:
    row_id: int
    record: DeliveryRecord
    body: bytes | None  # None: emptied by retention (only settled deliveries lose it)
    owner: str
    fencing_token: int
    stored_raw: bool  # the row holds the body raw: settling it compresses it


def _settled_body(claimed: ClaimedDelivery) -> dict[str, Any]:
    """The columns that store a raw body compressed, for the write that settles it (the
    compression runs before the transaction, so nobody waits for it on the write lock)."""
    if not claimed.stored_raw or claimed.body is None:
        return {}
    return {"body": compress(claimed.body), "body_compressed": True}


class _Fenced(Exception):
    """Raised inside the transaction to roll it back: another holder owns the delivery."""


class DeliveryLeases:
    def __init__(self, deliveries: Deliveries, *, lease_seconds: float) -> None:
        self.deliveries = deliveries
        self.db = deliveries.db
        self.lease_seconds = lease_seconds

    def claim(
        self, owner: str, *, limit: int = 10, now: float | None = None
    ) -> list[ClaimedDelivery]:
        with self.deliveries.writing(), self.db.transaction() as conn:
            rows = st.lease_due_deliveries(
                conn,
                owner=owner,
                now=self.db.now(conn, now),
                lease_seconds=self.lease_seconds,
                limit=limit,
            )
        return [
            ClaimedDelivery(
                row_id=int(r["id"]),
                record=record_from_row(r),
                body=stored_body(r["body"], compressed=bool(r["body_compressed"])),
                owner=owner,
                fencing_token=int(r["fencing_token"]),
                stored_raw=r["body"] is not None and not r["body_compressed"],
            )
            for r in rows
        ]

    def decide(
        self,
        claimed: ClaimedDelivery,
        outcome: DeliveryOutcome,
        *,
        reason: str | None = None,
        job_id: str | None = None,
        job: NewJob | None = None,
        feedback: Sequence[OutboxPut] = (),
    ) -> DeliveryRecord | None:
        """Settle the delivery with what it caused, all or nothing; None when fenced."""
        body = _settled_body(claimed)
        for attempt in range(_ATTEMPTS_ON_RACE):
            try:
                with self.deliveries.writing():
                    return self._decide_once(claimed, outcome, reason, job_id, job, feedback, body)
            except _Fenced:
                return None
            except WriteConflict as exc:
                if attempt == _ATTEMPTS_ON_RACE - 1:
                    raise StoreError(
                        f"Delivery {claimed.record.delivery_id} could not be decided: {exc.message}"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide_once(
        self,
        claimed: ClaimedDelivery,
        outcome: DeliveryOutcome,
        reason: str | None,
        job_id: str | None,
        job: NewJob | None,
        feedback: Sequence[OutboxPut],
        body: Mapping[str, Any],
    ) -> DeliveryRecord:
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            # First the fenced write: on PostgreSQL it also locks the row until the commit.
            settled = st.update_delivery_if_token(
                conn,
                claimed.row_id,
                claimed.fencing_token,
                {
                    "state": DECIDED,
                    "decided_at": at,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error": None,
                    **body,
                },
            )
            if settled is None:
                raise _Fenced
            queue_feedback = True
            if job is not None:
                enqueued = self.deliveries.store.enqueue_in(conn, job, now=at)
                job_id = enqueued.job.id
                if not enqueued.created:
                    queue_feedback = False
                    outcome = DeliveryOutcome.JOB_EXISTS
                    reason = "an earlier delivery about the same comment created the job"
            if queue_feedback:
                for item in feedback:
                    self.deliveries.outbox.put_in(
                        conn, key=item.key, kind=item.kind, job_id=item.job_id, payload=item.payload
                    )
            row = st.set_delivery_decision(
                conn, claimed.row_id, {"outcome": outcome, "reason": reason, "job_id": job_id}
            )
            return record_from_row(row)

    def put_off(
        self, claimed: ClaimedDelivery, error: str, *, delay: float, refund_attempt: bool
    ) -> DeliveryRecord | None:
        """Try again after ``delay`` seconds; ``refund_attempt`` when GitHub asked to wait."""
        with self.deliveries.writing(), self.db.transaction() as conn:
            row = st.update_delivery_if_token(
                conn,
                claimed.row_id,
                claimed.fencing_token,
                {
                    "run_after": self.db.now(conn) + delay,
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "last_error": error[:2000],
                },
                refund_attempt=refund_attempt,
            )
        return record_from_row(row) if row is not None else None

    def fail(self, claimed: ClaimedDelivery, reason: str) -> DeliveryRecord | None:
        """Settle the delivery as ``failed``: a permanent failure, recorded with its reason."""
        body = _settled_body(claimed)
        with self.deliveries.writing(), self.db.transaction() as conn:
            row = st.update_delivery_if_token(
                conn,
                claimed.row_id,
                claimed.fencing_token,
                {
                    "state": FAILED,
                    "decided_at": self.db.now(conn),
                    "reason": reason[:2000],
                    "lease_owner": None,
                    "lease_expires_at": None,
                    **body,
                },
            )
        return record_from_row(row) if row is not None else None
