"""Background delivery of webhooks caused by API calls, as GitHub sends them: after the call.

Admin routes that act as a human deliver synchronously (the caller gets the App's answer).
Events caused by the App's own API calls (a ref created or moved: ``push``) and
redeliveries asked for through ``POST /app/hook/deliveries/{id}/attempts`` are queued here
instead, so an API call never waits on the App's webhook endpoint (which may be the
caller itself, or down).

Rules:
- One daemon thread sends queued deliveries one at a time, in the order they were queued.
- A failure of one send is recorded on its attempt (see ``hooks.send``) and never stops
  the thread.
- ``drain`` waits until everything queued so far has been sent: tests call it (``POST
  /_emulator/deliveries/drain``) before counting deliveries, instead of sleeping.
"""

import logging
import queue
import threading
import time

from bot.emulator import hooks
from bot.emulator.state import Delivery, Emulator

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, em: Emulator) -> None:
        self._em = em
        self._queue: queue.Queue[tuple[Delivery, bool]] = queue.Queue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, deliveries: list[Delivery], *, redelivery: bool = False) -> None:
        for delivery in deliveries:
            self._queue.put((delivery, redelivery))
        if deliveries:
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
            delivery, redelivery = self._queue.get()
            try:
                hooks.send(self._em, delivery, redelivery=redelivery)
            except Exception:  # a bug here must not stop every later delivery
                log.exception("delivering %s %s failed", delivery.event, delivery.guid)
            finally:
                self._queue.task_done()
