"""Holding a lease while work runs: the guard handlers consult, and the keeper that renews it.

A handler (runner or interpreter) receives a :class:`LeaseGuard`. It calls
``guard.check()`` between steps; a :class:`LeaseKeeper` (one thread per worker loop, for all
its guards) renews the lease every third of its length and sets ``guard.lost`` the moment
a renewal touches no row (another holder claimed the job, or it was cancelled), or when
the attempt's time budget runs out.
Long-running children (agents) are stopped by whoever watches ``guard.lost``.

A handler that finished its work ends the attempt with ``guard.complete(store, ...)``.
Under the worker loop (which gives the guard a ``hand_in``) the completion is handed to
the loop, which writes the completions of all its finished handlers in one fenced statement
at its next round (bot/worker/loop.py); a guard without one writes it at once with
``Store.complete``. Either way the write carries this lease's fencing token.
"""

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.core.errors import LeaseLost, StoreError
from bot.core.records import JobState, Lease
from bot.store import Completion, Store


class LeaseGuard:
    def __init__(
        self,
        lease: Lease,
        *,
        budget_seconds: float | None = None,
        hand_in: Callable[[Completion], None] | None = None,
    ) -> None:
        self.lease = lease
        self._hand_in = hand_in
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

    def complete(
        self,
        store: Store,
        *,
        state: JobState = JobState.DONE,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """End the attempt well: DONE (a PR exists) or PLANNED (a plan was posted).

        Handed to the worker loop when there is one (see the module docstring); otherwise
        written now, raising :class:`~bot.core.errors.StaleFencingToken` if refused.
        """
        if self._hand_in is None:
            store.complete(self.job_id, self.token, state=state, data=data)
        else:
            self._hand_in(Completion(self.job_id, self.token, state, dict(data or {})))

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the lease is gone or the time budget is spent."""
        if self.budget_spent:
            self.mark_lost("the attempt ran past its time budget")
        if self.lost.is_set():
            raise LeaseLost(f"Job {self.job_id}: lease lost ({self.reason}).")


class LeaseKeeper:
    """Renews the leases of the guards it keeps, all from one thread.

    Each guard is renewed every ``period`` seconds (a third of the lease by default) from
    the moment it is taken in until its block ends. A renewal that touches no row marks the
    guard lost (another holder claimed the job, or it was cancelled) and stops renewing it;
    so does a guard past its time budget. A renewal that fails (the database hiccuped) is
    tried again a period later: the lease may still be ours until it expires.
    """

    def __init__(self, store: Store, *, period: float | None = None) -> None:
        self.store = store
        self.period = period if period is not None else store.lease_seconds / 3
        self._due: dict[LeaseGuard, float] = {}  # guard -> when its next renewal is due
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def keeping(self, guard: LeaseGuard) -> Iterator[LeaseGuard]:
        """Renew ``guard``'s lease for the duration of the block."""
        with self._changed:
            if not self._due:  # the thread waits for a first guard; every later one is due
                self._changed.notify()  # after those already kept
            self._due[guard] = time.monotonic() + self.period
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self._thread.start()
        try:
            yield guard
        finally:
            with self._changed:
                self._due.pop(guard, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [guard for guard, at in self._due.items() if at <= now]
                if not due:
                    first = min(self._due.values(), default=None)
                    self._changed.wait(None if first is None else first - now)
                    continue
                for guard in due:
                    self._due[guard] = now + self.period
            for guard in due:
                if not self._renew(guard):
                    with self._changed:
                        self._due.pop(guard, None)

    def _renew(self, guard: LeaseGuard) -> bool:
        """One renewal; False once the guard is lost and needs no more."""
        try:
            held = self.store.heartbeat(guard.job_id, guard.token)
        except StoreError as exc:  # the database hiccuped: the lease may still be ours
            guard.reason = f"heartbeat failed: {exc}"
            return True
        if not held:
            guard.mark_lost("another worker holds the job now, or it was cancelled")
            return False
        if guard.budget_spent:
            guard.mark_lost("the attempt ran past its time budget")
            return False
        return True
