"""What runs beside intake: the triage loop, the body retention sweep, the recovery sweep.

- ``farcaster serve`` runs them in one thread (:func:`start_background`), woken by intake
  for each delivery it stores; ``farcaster worker`` runs one triage pass per loop as a side
  task (:func:`triage_side_task`), with the same housekeeping.
- Retention: every hour (and at start) the bodies of settled deliveries older than
  ``delivery_retention_days`` are emptied.
- Recovery (webhooks/recovery.py): a few seconds after start (once ``serve`` listens), then
  every ``recovery_interval_seconds``, when this process gets the turn (one process per
  interval does).
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.app.runtime import Runtime
from bot.core.errors import StoreError
from webhooks.context import Context
from webhooks.handlers import build_router
from webhooks.routing import Router
from webhooks.triage import Triage, run_triage_forever

log = logging.getLogger(__name__)

RETENTION_SWEEP_SECONDS = 3600.0
# Deliveries one triage decides side by side (webhooks/triage.py): enough to overlap their
# waits on the database and GitHub, few enough for the database pool and GitHub's advice
# against many concurrent requests.
TRIAGE_PARALLEL = 4


def triage_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(TRIAGE_PARALLEL, thread_name_prefix="farcaster-triage-pass")


class Every:
    """Runs ``task`` once ``first_after`` seconds have passed, then once per ``seconds``
    (monotonic clock)."""

    def __init__(
        self, seconds: float, task: Callable[[], object], name: str, *, first_after: float = 0.0
    ) -> None:
        self.seconds = seconds
        self.task = task
        self.name = name
        self._next = time.monotonic() + first_after

    def __call__(self) -> None:
        if self.seconds <= 0 or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.seconds
        try:
            self.task()
        except StoreError as exc:  # the store refused (down, most often): try next turn
            log.warning("%s failed; next try in %.0f s: %s", self.name, self.seconds, exc)
        except Exception:  # a sweep's bug: it waits for its next turn; triage goes on
            log.exception("%s failed; next try in %.0f s", self.name, self.seconds)


def housekeeping(runtime: Runtime, owner: str) -> Callable[[], None]:
    settings = runtime.settings
    retention = settings.delivery_retention_days * 86400.0

    def forget() -> None:
        forgotten = runtime.deliveries.forget_bodies(retention_seconds=retention)
        if forgotten:
            log.info("emptied the bodies of %d settled deliveries", forgotten)

    tasks = [Every(RETENTION_SWEEP_SECONDS, forget, "the retention sweep")]
    if settings.recovery_interval_seconds > 0 and settings.github_app_id is not None:
        from webhooks.recovery import recovery_for

        recover = recovery_for(runtime, owner)
        # Shortly after start, so that this server listens when the redeliveries arrive.
        interval = settings.recovery_interval_seconds
        tasks.append(
            Every(interval, recover.run, "the recovery sweep", first_after=min(interval, 3.0))
        )

    def run() -> None:
        for task in tasks:
            task()

    return run


def start_background(
    runtime: Runtime,
    context: Context,
    router: Router,
    wake: threading.Event,
    *,
    decided: Callable[[], None] = lambda: None,
) -> Callable[[], None]:
    """Start the triage thread (``decided``: called after a pass that decided deliveries);
    returns a function that stops it and waits for it."""
    stop = threading.Event()
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}-triage"
    triage = Triage(context, router, owner, pool=triage_pool())
    thread = threading.Thread(
        target=run_triage_forever,
        args=(triage, stop, wake),
        kwargs={"housekeeping": housekeeping(runtime, owner), "decided": decided},
        name="farcaster-triage",
        daemon=True,
    )
    thread.start()

    def stop_it() -> None:
        stop.set()
        wake.set()
        thread.join(timeout=30)

    return stop_it


def triage_side_task(runtime: Runtime, owner: str) -> Callable[[], int]:
    """One triage pass (and the housekeeping due) per worker loop; how many it handled."""
    from webhooks.app import build_context

    triage = Triage(build_context(runtime), build_router(), owner, pool=triage_pool())
    chores = housekeeping(runtime, owner)

    def task() -> int:
        chores()
        return triage.run_once()

    return task
