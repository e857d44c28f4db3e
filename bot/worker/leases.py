"""Holding a lease while work runs: a heartbeat thread and the guard handlers consult.

A handler (runner or interpreter) receives a :class:`LeaseGuard`. It calls
``guard.check()`` between steps; the heartbeat thread renews the lease every third of its
length and sets ``guard.lost`` the moment a renewal touches no row (another holder
claimed the job, or it was cancelled), or when the attempt's time budget runs out.
Long-running children (agents) are stopped by whoever watches ``guard.lost``.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bot.core.errors import LeaseLost, StoreError
from bot.core.records import Lease
from bot.store import Store


class LeaseGuard:
    def __init__(self, lease: Lease, *, budget_seconds: float | None = None) -> None:
        self.lease = lease
        self.lost = threading.Event()
        self.reason = ""
        self.deadline = time.monotonic() + budget_seconds if budget_seconds else None

    @property
    def token(self) -> int:
        return self.lease.token

    @property
    def job_id(self) -> str:
        return self.lease.job.id

    @property
    def budget_spent(self) -> bool:
        """True once the attempt has run past its time budget (never without a budget)."""
        return self.deadline is not None and time.monotonic() > self.deadline

    def mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the lease is gone or the time budget is spent."""
        if self.budget_spent:
            self.mark_lost("the attempt ran past its time budget")
        if self.lost.is_set():
            raise LeaseLost(f"Job {self.job_id}: lease lost ({self.reason}).")


@contextmanager
def heartbeating(
    store: Store, guard: LeaseGuard, *, interval: float | None = None
) -> Iterator[LeaseGuard]:
    """Renew ``guard``'s lease in a background thread for the duration of the block."""
    period = interval if interval is not None else store.lease_seconds / 3
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(period):
            try:
                held = store.heartbeat(guard.job_id, guard.token)
            except StoreError as exc:  # the database hiccuped: the lease may still be ours
                guard.reason = f"heartbeat failed: {exc}"
                continue
            if not held:
                guard.mark_lost("another worker holds the job now, or it was cancelled")
                return
            if guard.budget_spent:
                guard.mark_lost("the attempt ran past its time budget")
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{guard.job_id}", daemon=True)
    thread.start()
    try:
        yield guard
    finally:
        stop.set()
        thread.join(timeout=5)
