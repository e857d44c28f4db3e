"""Triage: decide the deliveries intake stored, durably, with the handlers intake used to run.

A pass claims due undecided deliveries under a lease with a fencing token
(bot/store/delivery_leases.py) and, for each, does what the request used to do: check the
payload, find the handler of its event and action (webhooks/handlers/), let it parse the
command, check the commenter's permission and resolve the base, and record its
:class:`~webhooks.routing.Decision` (the job with its first event, the feedback) in one
transaction. The guarantees are the inbox's: one row per delivery id, one job per comment
(``job_exists`` otherwise), the hash-based job id, the same replies.

Failures, by kind (nothing is ever dropped):

- GitHub asked to wait (rate limit, credentials being renewed): put off by its
  ``retry_after``, the attempt given back. The delivery shows as ``scheduled``.
- GitHub unavailable, the store unavailable, a missing configuration, the App's credentials
  refused: put off with backoff (2 s doubling to 5 min), and retried for as long as it takes.
- A permanent failure (a payload that slipped past intake's checks, GitHub refusing a read
  for good): the delivery is settled ``failed`` with its reason.
- A bug in a handler: logged with its traceback and retried with backoff; after
  ``MAX_CRASHES`` attempts it is settled ``failed`` (``internal_error``).

A pass's deliveries are decided side by side on the caller's thread pool, if it gives one:
a decision mostly waits (a dozen database round trips, two or three GitHub reads), and
deciding them one after another could not keep up with 50 commands a second on PostgreSQL.
Deliveries about one comment may meet in a batch, as they may in two processes: the job's
key keeps one job.

A lost lease (another holder's token) writes nothing. Where triage runs: a thread of
``farcaster serve`` (on by default, woken by every accepted delivery) and a side task of every
``farcaster worker``; any number may run, the lease keeps them apart.
"""

import json
import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import Executor

from bot.core.errors import (
    ConfigurationError,
    FarcasterError,
    GitHubRefused,
    RateLimited,
    StoreError,
)
from bot.core.redaction import one_line
from bot.core.retry import backoff_seconds
from bot.store.delivery_leases import ClaimedDelivery, DeliveryLeases
from webhooks.context import Context
from webhooks.payloads import Envelope, PayloadError, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

log = logging.getLogger(__name__)

MAX_CRASHES = 8
BATCH = 10
IDLE_MAX_SECONDS = 1.0


class Triage:
    def __init__(
        self,
        context: Context,
        router: Router,
        owner: str,
        *,
        jitter: Callable[[], float] = random.random,
        pool: Executor | None = None,
    ) -> None:
        self.context = context
        self.pool = pool
        self.router = router
        self.owner = owner
        self.leases = DeliveryLeases(
            context.deliveries, lease_seconds=context.settings.lease_seconds
        )
        self._jitter = jitter

    def run_once(self, *, limit: int = BATCH, now: float | None = None) -> int:
        """Claim up to ``limit`` due deliveries and settle or put off each; how many.
        ``now`` replaces the database clock for the claim (tests skip a backoff with it)."""
        claimed = self.leases.claim(self.owner, limit=limit, now=now)
        if self.pool is not None and len(claimed) > 1:
            list(self.pool.map(self.triage, claimed))
        else:
            for item in claimed:
                self.triage(item)
        return len(claimed)

    def triage(self, claimed: ClaimedDelivery) -> None:
        record = claimed.record
        try:
            decision = self._decide(claimed)
        except PayloadError as exc:
            self._fail(claimed, f"bad_payload: {exc}")
        except RateLimited as exc:
            reason = f"{exc.reason_code}: {exc.message}"
            log.info("delivery %s waits %.0f s: %s", record.delivery_id, exc.retry_after, reason)
            self.leases.put_off(claimed, reason, delay=exc.retry_after, refund_attempt=True)
        except FarcasterError as exc:
            reason = f"{exc.reason_code}: {one_line(exc.message)}"
            if _worth_waiting(exc):
                self._retry(claimed, reason)
            else:
                self._fail(claimed, reason)
        except Exception as exc:  # a bug in a handler: retried, then failed (see the rules)
            log.exception("delivery %s: triage crashed", record.delivery_id)
            reason = f"internal_error: {type(exc).__name__}: {one_line(str(exc))}"
            if record.attempts >= MAX_CRASHES:
                self._fail(claimed, reason)
            else:
                self._retry(claimed, reason)
        else:
            settled = self.leases.decide(
                claimed,
                decision.outcome,
                reason=decision.reason,
                job_id=decision.job_id,
                job=decision.job,
                feedback=decision.feedback,
            )
            if settled is None:
                log.info("delivery %s: lease lost; another triage owns it", record.delivery_id)
            else:
                log.info(
                    "delivery %s decided: %s (%s)",
                    record.delivery_id,
                    settled.outcome,
                    settled.reason,
                    extra={"delivery_id": record.delivery_id, "job_id": settled.job_id},
                )

    def _decide(self, claimed: ClaimedDelivery) -> Decision:
        record = claimed.record
        if claimed.body is None:
            raise PayloadError("the delivery's body is no longer stored")
        try:
            payload = json.loads(claimed.body)
        except ValueError as exc:
            raise PayloadError(f"the stored body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise PayloadError("the stored body is not a JSON object")
        delivery = Delivery(
            id=record.delivery_id,
            event=record.event,
            payload=payload,
            body_sha256=record.payload_sha256,
        )
        read_payload(Envelope, delivery.payload)
        handler = self.router.find(delivery.event, delivery.action)
        if handler is None:
            what = delivery.event + (f".{delivery.action}" if delivery.action else "")
            return ignored(f"Farcaster does not handle {what}")
        return handler(self.context, delivery)

    def _retry(self, claimed: ClaimedDelivery, reason: str) -> None:
        delay = backoff_seconds(claimed.record.attempts, jitter=self._jitter)
        log.warning(
            "delivery %s: attempt %d failed (%s); again in %.0f s",
            claimed.record.delivery_id,
            claimed.record.attempts,
            reason,
            delay,
        )
        self.leases.put_off(claimed, reason, delay=delay, refund_attempt=False)

    def _fail(self, claimed: ClaimedDelivery, reason: str) -> None:
        log.error("delivery %s failed for good: %s", claimed.record.delivery_id, reason)
        self.leases.fail(claimed, reason)


def _worth_waiting(exc: FarcasterError) -> bool:
    """Retryable errors, a missing configuration, and the App's credentials refused (an
    operator fixes them, and the delivery must still be there then)."""
    if exc.retryable or isinstance(exc, ConfigurationError):
        return True
    return isinstance(exc, GitHubRefused) and exc.reason_code == "github_auth"


def run_triage_forever(
    triage: Triage,
    stop: threading.Event,
    wake: threading.Event,
    *,
    housekeeping: Callable[[], None] = lambda: None,
    decided: Callable[[], None] = lambda: None,
) -> None:
    """Triage passes until ``stop``; idle waits double from 50 ms to a second, and ``wake``
    (set by intake for each delivery it stores) ends a wait early. ``housekeeping`` runs
    between passes (body retention, recovery: each keeps its own schedule); ``decided`` after
    a pass that decided deliveries (``serve`` wakes its worker loops: the jobs and feedback
    just queued are theirs to run and send)."""
    idle = 0.05
    while not stop.is_set():
        try:
            housekeeping()
            handled = triage.run_once()
        except StoreError as exc:  # the store is down: wait and try again
            log.warning("triage pass failed: %s", one_line(str(exc)))
            handled = 0
        except Exception:  # a bug outside a handler: the thread must outlive it
            log.exception("triage pass crashed")
            handled = 0
        if handled:
            decided()
            idle = 0.05
            continue
        wake.wait(idle)
        if wake.is_set():
            wake.clear()
            idle = 0.05
        else:
            idle = min(IDLE_MAX_SECONDS, idle * 2)
