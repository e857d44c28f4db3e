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

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from bot.core.errors import StoreError
from bot.core.vocab import DeliveryOutcome
from bot.store.deliveries import UNDECIDED, Deliveries, DeliveryRecord, IncomingDelivery
from webhooks.context import Context
from webhooks.payloads import (
    Envelope,
    Installation,
    PayloadError,
    Repository,
    read_payload,
    read_payload_json,
    with_envelope,
)
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

    def check(self, event: str, delivery_id: str, body: bytes) -> IncomingDelivery | Answer:
        """The body checks (pure CPU, no I/O): what to store, or the 400 answer.

        The envelope and the handler's model are read straight from the bytes: in one
        parse when the event's handlers name one model (webhooks/payloads.py:
        :func:`with_envelope`), else one parse each. When that fails, the payload is read
        again with ``json.loads`` and the dict checks, which give the answer (``bad_json`` or
        ``bad_payload``, naming the first problem) or accept what only they read."""
        likely = self.router.event_model(event)
        both = with_envelope(likely) if likely is not None else None
        read = read_payload_json(both, body) if both is not None else None
        if read is not None:  # the envelope and the event's model, in one parse
            action = getattr(read, "action", None)
            model = self.router.payload_model(event, action)
            if model is None or model is likely or read_payload_json(model, body) is not None:
                return self._incoming(
                    event,
                    delivery_id,
                    body,
                    action=action,
                    installation_id=_installation_id(read),
                    repo=_repo(read),
                )
        envelope = read_payload_json(Envelope, body)
        if envelope is not None:
            model = self.router.payload_model(event, envelope.action)
            if model is None or read_payload_json(model, body) is not None:
                return self._incoming(
                    event,
                    delivery_id,
                    body,
                    action=envelope.action,
                    installation_id=envelope.installation.id if envelope.installation else None,
                    repo=envelope.repository.full_name if envelope.repository else None,
                )
        return self._check_parsed(event, delivery_id, body)

    def _check_parsed(self, event: str, delivery_id: str, body: bytes) -> IncomingDelivery | Answer:
        payload = json_object(body)
        if isinstance(payload, Answer):
            return payload
        delivery = Delivery(delivery_id, event, payload, hashlib.sha256(body).hexdigest())
        try:
            read_payload(Envelope, payload)  # strict types, no control characters
            model = self.router.payload_model(event, delivery.action)
            if model is not None:  # what its handler will read, checked alike
                read_payload(model, payload)
        except PayloadError as exc:
            return error_answer(400, "bad_payload", str(exc))
        return self._incoming(
            event,
            delivery_id,
            body,
            action=delivery.action,
            installation_id=delivery.installation_id,
            repo=delivery.repo,
            parsed=delivery,
        )

    def _incoming(
        self,
        event: str,
        delivery_id: str,
        body: bytes,
        *,
        action: str | None,
        installation_id: int | None,
        repo: str | None,
        parsed: Delivery | None = None,
    ) -> IncomingDelivery:
        outcome, reason = None, None
        handler = self.router.find(event, action)
        if handler is None:  # settled here: nobody handles it
            what = event + (f".{action}" if action else "")
            outcome, reason = DeliveryOutcome.IGNORED, f"Farcaster does not handle {what}"
        elif event == "ping":  # settled here: its handler reads only the payload
            delivery = parsed or Delivery(
                delivery_id, event, json.loads(body), hashlib.sha256(body).hexdigest()
            )
            decision = handler(self.context, delivery)
            outcome, reason = decision.outcome, decision.reason
        return IncomingDelivery(
            delivery_id=delivery_id,
            event=event,
            action=action,
            payload_sha256=None,  # hashed by the store
            body=body,
            installation_id=installation_id,
            repo=repo,
            outcome=outcome,
            reason=reason,
        )

    async def store(self, incoming: IncomingDelivery) -> Answer:
        """Write the checked delivery and answer, on the event loop, which never waits for
        another writer (:meth:`Deliveries.accept_async`)."""
        delivery_id = incoming.delivery_id
        try:
            accepted = await self.deliveries.accept_async(incoming, busy_timeout_ms=self._busy_ms)
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
            return _duplicate(delivery_id, accepted.earlier)
        if accepted.state == UNDECIDED:
            self._on_undecided()
            body_out = {"delivery_id": delivery_id, "state": UNDECIDED, "duplicate": False}
            return Answer(202, body_out, ACCEPTED)
        outcome, reason = incoming.outcome, incoming.reason
        status = 200 if outcome is DeliveryOutcome.PING else 202
        body_out = {"delivery_id": delivery_id, "state": accepted.state, "duplicate": False}
        return Answer(status, {**body_out, "outcome": outcome, "reason": reason}, str(outcome))


def _installation_id(read: BaseModel) -> int | None:
    installation = getattr(read, "installation", None)
    return installation.id if isinstance(installation, Installation) else None


def _repo(read: BaseModel) -> str | None:
    repository = getattr(read, "repository", None)
    return repository.full_name if isinstance(repository, Repository) else None


def json_object(body: bytes) -> dict[str, Any] | Answer:
    """The body parsed as a JSON object, or the 400 answer (intake's check 6)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return error_answer(400, "bad_json", f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return error_answer(400, "bad_json", "body is JSON but not an object")
    return payload
