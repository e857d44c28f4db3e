"""Draining the outbox: claim items, run the handler of their kind, mark them done or failed.

Rules:

- A handler must be idempotent: an item may run again after a crash between the GitHub
  call and ``done()`` (its lease expires and another drainer claims it).
- ``RateLimited``: postponed by GitHub's ``retry_after`` without counting a try (waiting is
  the cure; rate limits alone never park an item as ``dead``).
- A retryable error (GitHub unavailable, a 5xx, a store hiccup): failed with backoff; the
  outbox parks the item as ``dead`` after its last attempt.
- A non-retryable error (GitHub refused with a 4xx, a missing configuration) and an item
  of a kind no handler knows: parked as ``dead`` at once; waiting would not change them.
- Any other exception is a bug in a handler: it is logged with its traceback and the item
  is failed with backoff, and draining goes on with the next item.

A batch: the items one claim leased run side by side on the caller's thread pool, if it
gives one (their GitHub calls overlap; the outbox's lanes keep a job's status-comment items
out of one batch), and those that succeeded are marked done in one write at the end. A
crash before that write runs them again, which their idempotence allows.

Composition lives with the caller: ``drain_outbox(runtime, owner, {**FEEDBACK_HANDLERS,
...})``. This module knows no kinds itself.
"""

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor

from bot.core.errors import FarcasterError, RateLimited
from bot.store.outbox import OutboxItem
from bot.worker.services import Services

OutboxHandler = Callable[[Services, OutboxItem], None]
Handler = OutboxHandler

log = logging.getLogger(__name__)

DONE = "done"


def drain_outbox(
    runtime: Services,
    owner: str,
    handlers: Mapping[str, Handler],
    *,
    limit: int = 10,
    pool: Executor | None = None,
) -> int:
    """Claim up to ``limit`` due items and run each (on ``pool``'s threads, when given);
    mark the done ones in one write; returns how many were claimed."""
    items = runtime.outbox.claim(owner, limit=limit)
    if pool is not None and len(items) > 1:
        states = list(pool.map(lambda item: handle_item(runtime, item, handlers), items))
    else:
        states = [handle_item(runtime, item, handlers) for item in items]
    runtime.outbox.done_many([i for i, state in zip(items, states, strict=True) if state == DONE])
    return len(items)


def run_item(runtime: Services, item: OutboxItem, handlers: Mapping[str, Handler]) -> str:
    """Run one claimed item and record its new state (``done``, ``pending`` or ``dead``)."""
    state = handle_item(runtime, item, handlers)
    if state == DONE:
        runtime.outbox.done(item)
    return state


def handle_item(runtime: Services, item: OutboxItem, handlers: Mapping[str, Handler]) -> str:
    """Run one claimed item; returns its new state. A failure is recorded here; success is
    not (``done``): the caller marks it, alone or with its batch."""
    outbox = runtime.outbox
    handler = handlers.get(item.kind)
    if handler is None:
        log.error("outbox item %s has kind %r, which no handler knows", item.key, item.kind)
        return outbox.failed(item, f"no handler for outbox kind {item.kind!r}", dead=True)
    try:
        handler(runtime, item)
    except RateLimited as exc:
        # Waiting for GitHub is not a failed try: eight rate limits must not park it as dead.
        log.info("outbox item %s rate limited; retry in %.0f s", item.key, exc.retry_after)
        outbox.postpone(item, f"{exc.reason_code}: {exc.message}", delay=exc.retry_after)
        return "pending"
    except FarcasterError as exc:
        state = outbox.failed(item, f"{exc.reason_code}: {exc.message}", dead=not exc.retryable)
        log.warning("outbox item %s failed (%s): %s -> %s", item.key, exc.reason_code, exc, state)
        return state
    except Exception as exc:  # a handler's bug: this item fails, the drain goes on
        log.exception("outbox item %s: handler %s crashed", item.key, item.kind)
        return outbox.failed(item, f"handler crashed: {type(exc).__name__}: {exc}")
    return DONE
