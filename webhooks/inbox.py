"""The delivery inbox: one verified delivery in, one recorded decision and an answer out.

Rules:

- A delivery id already recorded is answered from its record (202, the existing job id)
  and causes nothing: no GitHub call, no handler, no write.
- Otherwise the handler of its event and action decides; an event or action Farcaster
  does not handle is recorded as ``ignored`` with the reason, and answered 202.
- The decision is recorded in one transaction with the job and feedback it creates, and
  only then answered (``ping``: 200; everything else: 202).
- Nothing is recorded when the answer is an error: a payload lacking what GitHub always
  sends, or holding a value of the wrong type or a control character (400; see
  webhooks/payloads.py), or GitHub unreachable, rate limited or refusing the reads intake needs
  (permission, pull request, branch head: 503, with ``Retry-After`` when GitHub gave one).
  Recording nothing means a redelivery of the same delivery id is handled afresh.
"""

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import ConfigurationError, GitHubError, RateLimited
from bot.core.vocab import DeliveryOutcome
from bot.store.deliveries import DeliveryRecord, NewDelivery
from webhooks.context import Context
from webhooks.payloads import Envelope, PayloadError, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

log = logging.getLogger(__name__)

DUPLICATE = "duplicate"


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


def _accepted(record: DeliveryRecord, *, duplicate: bool) -> Answer:
    status = 200 if record.outcome == DeliveryOutcome.PING else 202
    body = {
        "delivery_id": record.delivery_id,
        "outcome": record.outcome,
        "reason": record.reason,
        "job_id": record.job_id,
        "duplicate": duplicate,
    }
    return Answer(status, body, DUPLICATE if duplicate else record.outcome)


class Inbox:
    def __init__(self, context: Context, router: Router) -> None:
        self.context = context
        self.router = router

    def accept(self, delivery: Delivery) -> Answer:
        """Decide about a verified delivery and record it; runs in a worker thread."""
        deliveries = self.context.deliveries
        earlier = deliveries.find(delivery.id)
        if earlier is not None:
            return _accepted(earlier, duplicate=True)
        try:
            decision = self._decide(delivery)
        except PayloadError as exc:
            return error_answer(400, "bad_payload", str(exc))
        except RateLimited as exc:
            return error_answer(
                503,
                "github_unavailable",
                exc.message,
                **{"Retry-After": str(int(exc.retry_after + 0.999))},
            )
        except (GitHubError, ConfigurationError) as exc:
            log.warning("delivery %s: GitHub read failed: %s", delivery.id, exc.message)
            return error_answer(503, "github_unavailable", f"GitHub could not answer: {exc}")
        recorded = deliveries.record(
            NewDelivery(
                delivery_id=delivery.id,
                event=delivery.event,
                action=delivery.action,
                payload_sha256=delivery.body_sha256,
                outcome=decision.outcome,
                reason=decision.reason,
                installation_id=delivery.installation_id,
                repo=delivery.repo,
                job_id=decision.job_id,
            ),
            job=decision.job,
            feedback=decision.feedback,
        )
        return _accepted(recorded.delivery, duplicate=not recorded.new)

    def _decide(self, delivery: Delivery) -> Decision:
        read_payload(Envelope, delivery.payload)  # strict types, no control characters
        handler = self.router.find(delivery.event, delivery.action)
        if handler is None:
            what = delivery.event + (f".{delivery.action}" if delivery.action else "")
            return ignored(f"Farcaster does not handle {what}")
        return handler(self.context, delivery)
