"""The delivery inbox's front door: one verified delivery in, one stored row and an answer out.

Rules (accept first, decide later):

- The payload is checked, cheaply and without I/O: strict types and no control characters
  in any field, against the envelope every event carries and the model its handler reads
  (webhooks/payloads.py, webhooks/routing.py). One that fails is answered 400, not stored.
- The raw delivery is written in ONE statement, idempotent on its delivery id
  (bot/store/deliveries.py), and only then answered. No GitHub call is made in the request.
- ``ping`` and events no handler takes are settled here (``ping`` answered 200, the rest
  ``ignored``); every other delivery is stored ``undecided`` and answered 202, and the
  triage loop decides it (webhooks/triage.py).
- A delivery id already stored is answered 202 with what is known about it (``duplicate``:
  true) and stores nothing new.
- A store that cannot take the write (unreachable, locked past ``intake_busy_seconds``,
  read-only) answers 503 with a JSON reason and ``Retry-After``, and is logged with the
  delivery id: never a 2xx for a delivery that was not stored. Redelivering it later, by hand
  or through the recovery sweep (webhooks/recovery.py), is accepted as new.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import StoreError
from bot.core.vocab import DeliveryOutcome
from bot.store.deliveries import UNDECIDED, Deliveries, DeliveryRecord, IncomingDelivery
from webhooks.context import Context
from webhooks.payloads import Envelope, PayloadError, read_payload
from webhooks.routing import Delivery, Router

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
STORE_UNAVAILABLE = "store_unavailable"
# Seconds a client should wait before sending a delivery the store could not take.
STORE_RETRY_AFTER = 5


@dataclass(frozen=True)
class Answer:
    """The HTTP answer; ``outcome`` labels the delivery in metrics."""

    status: int
    body: dict[str, Any]
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)


def error_answer(status: int, outcome: str, reason: str, **headers: str) -> Answer:
    one_line = " ".join(reason.split())
    return Answer(status, {"error": outcome, "reason": one_line}, outcome, dict(headers))


def _duplicate(delivery_id: str, earlier: DeliveryRecord | None) -> Answer:
    body: dict[str, Any] = {"delivery_id": delivery_id, "duplicate": True}
    if earlier is not None:
        body.update(
            state=earlier.state,
            outcome=earlier.outcome,
            reason=earlier.reason,
            job_id=earlier.job_id,
        )
    return Answer(202, body, DUPLICATE)


class Inbox:
    def __init__(
        self,
        context: Context,
        router: Router,
        *,
        on_undecided: Callable[[], None] = lambda: None,
    ) -> None:
        self.context = context
        self.router = router
        self.deliveries: Deliveries = context.deliveries
        self._busy_ms = int(context.settings.intake_busy_seconds * 1000)
        self._on_undecided = on_undecided  # wakes this process's triage loop

    def accept(self, delivery: Delivery, body: bytes) -> Answer:
        """:meth:`check`, then :meth:`store`."""
        checked = self.check(delivery, body)
        return checked if isinstance(checked, Answer) else self.store(checked)

    def check(self, delivery: Delivery, body: bytes) -> IncomingDelivery | Answer:
        """The payload checks (pure CPU, no I/O): what to store, or the 400 answer."""
        try:
            read_payload(Envelope, delivery.payload)  # strict types, no control characters
            model = self.router.payload_model(delivery.event, delivery.action)
            if model is not None:  # what its handler will read, checked alike
                read_payload(model, delivery.payload)
        except PayloadError as exc:
            return error_answer(400, "bad_payload", str(exc))
        outcome, reason = self._settled_here(delivery)
        return IncomingDelivery(
            delivery_id=delivery.id,
            event=delivery.event,
            action=delivery.action,
            payload_sha256=delivery.body_sha256,
            body=body,
            installation_id=delivery.installation_id,
            repo=delivery.repo,
            outcome=outcome,
            reason=reason,
        )

    def store(self, incoming: IncomingDelivery) -> Answer:
        """Write the checked delivery and answer (blocking: run it in a worker thread)."""
        delivery_id = incoming.delivery_id
        try:
            accepted = self.deliveries.accept(incoming, busy_timeout_ms=self._busy_ms)
        except StoreError as exc:
            log.warning(
                "delivery %s not stored, answered 503: %s",
                delivery_id,
                exc.message,
                extra={"delivery_id": delivery_id},
            )
            return error_answer(
                503,
                STORE_UNAVAILABLE,
                f"the delivery could not be stored; send it again later ({exc.message})",
                **{"Retry-After": str(STORE_RETRY_AFTER)},
            )
        if not accepted.new:
            return _duplicate(delivery_id, self.deliveries.find(delivery_id))
        if accepted.state == UNDECIDED:
            self._on_undecided()
            body_out = {"delivery_id": delivery_id, "state": UNDECIDED, "duplicate": False}
            return Answer(202, body_out, ACCEPTED)
        outcome, reason = incoming.outcome, incoming.reason
        status = 200 if outcome is DeliveryOutcome.PING else 202
        body_out = {"delivery_id": delivery_id, "state": accepted.state, "duplicate": False}
        return Answer(status, {**body_out, "outcome": outcome, "reason": reason}, str(outcome))

    def _settled_here(self, delivery: Delivery) -> tuple[DeliveryOutcome | None, str | None]:
        """``ping`` (its handler reads only the payload) and unhandled events; else None."""
        handler = self.router.find(delivery.event, delivery.action)
        if handler is None:
            what = delivery.event + (f".{delivery.action}" if delivery.action else "")
            return DeliveryOutcome.IGNORED, f"Farcaster does not handle {what}"
        if delivery.event == "ping":
            decision = handler(self.context, delivery)
            return decision.outcome, decision.reason
        return None, None
