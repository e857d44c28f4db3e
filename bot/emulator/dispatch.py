"""Background delivery of webhooks caused by API calls, as GitHub sends them: after the call.

Admin routes that act as a human deliver synchronously (the caller gets the App's answer).
Events caused by the App's own API calls (a ref created, moved or deleted: ``push`` and
``pull_request.synchronize``; with ``deliver_own_events``, its comments, pull requests and
check runs) and redeliveries asked for through ``POST
/app/hook/deliveries/{id}/attempts`` are queued here instead, so an API call never waits
on the App's webhook endpoint (which may be the caller itself, or down).

Rules:
- One daemon thread sends queued deliveries one at a time, in the order they were queued;
  a deferred job (``defer``) builds its deliveries on that thread first, so the API call
  that caused them does not wait for the git reads behind a ``push`` payload.
- A failure of one send is recorded on its attempt (see ``hooks.send``) and never stops
  the thread.
- ``drain`` waits until everything queued so far has been sent: tests call it (``POST
  /_emulator/deliveries/drain``) before counting deliveries, instead of sleeping.
"""

import logging
import queue
import threading
import time
from collections.abc import Callable

from bot.emulator import hooks
from bot.emulator.state import Delivery, Emulator

log = logging.getLogger(__name__)


Job = Callable[[], list[Delivery]]


class Dispatcher:
    def __init__(self, em: Emulator) -> None:
        self._em = em
        self._queue: queue.Queue[tuple[Job, bool]] = queue.Queue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, deliveries: list[Delivery], *, redelivery: bool = False) -> None:
        """Send ``deliveries`` (built already) in the background."""
        if deliveries:
            self._queue.put((lambda: deliveries, redelivery))
            self._ensure_thread()

    def defer(self, job: Job) -> None:
        """Build deliveries in the background with ``job`` (it takes the emulator lock
        itself), then send them: the caller's request does not pay for building them."""
        self._queue.put((job, False))
        self._ensure_thread()

    def pending(self) -> int:
        """Deliveries queued or being sent."""
        return self._queue.unfinished_tasks

    def drain(self, timeout: float) -> bool:
        """Wait until every delivery queued so far is sent; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def _ensure_thread(self) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="emulator-webhooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            job, redelivery = self._queue.get()
            try:
                for delivery in job():
                    hooks.send(self._em, delivery, redelivery=redelivery)
            except Exception:  # a bug here must not stop every later delivery
                log.exception("building or sending a webhook failed")
            finally:
                self._queue.task_done()
