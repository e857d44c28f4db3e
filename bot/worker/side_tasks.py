"""When the worker loop runs its side tasks (the outbox drain; triage in ``farcaster worker``).

Rules:

- After a round whose side tasks handled something, they are due again at once: there may
  be more.
- After a round where they found nothing, they rest for ``rest_seconds``: an empty outbox is
  not asked on every round.
- :meth:`SideTaskSchedule.wake` makes them due at once, rest or not. Triage calls it (through
  the loop's ``wake``) right after it committed a new job with its ``queued`` status edit, so
  the next round drains that edit before it claims the job: the status comment's first body
  says "queued", not a later phase. A wake that comes while the side tasks run keeps them
  due for the next round, since their run may have looked before the wake's commit.

Thread-safe: the loop asks and records from its own thread; ``wake`` comes from any thread.
"""

import threading


class SideTaskSchedule:
    def __init__(self, rest_seconds: float) -> None:
        self.rest_seconds = rest_seconds
        self._due_at = float("-inf")
        self._woken = threading.Event()

    def wake(self) -> None:
        """Work may be waiting for the side tasks: run them in the next round."""
        self._woken.set()

    def start_if_due(self, now: float) -> bool:
        """Whether the side tasks run now (monotonic ``now``); if so, a wake that comes from
        here on counts for the next round."""
        if now < self._due_at and not self._woken.is_set():
            return False
        self._woken.clear()  # a wake before this line is seen by the run that follows
        return True

    def ran(self, now: float, handled: int) -> None:
        """Record the run that started at ``now`` and handled ``handled`` items."""
        self._due_at = now if handled else now + self.rest_seconds
