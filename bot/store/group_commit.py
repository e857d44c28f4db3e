"""Group commit: one writer thread writes every queued item of its callers, a batch at a time.

Callers queue an item and wait for its result; the writer thread, started on the first item
(and ending after ``idle_seconds`` without one), takes every item queued so far (at most
``max_batch``) and writes them all with one ``write`` call. Under load a burst of N items
costs one statement and one commit instead of N (SQLite has one writer anyway; on PostgreSQL
each commit is a round trip and a WAL flush); alone, an item is written as soon as the
writer wakes, with no waiting for company.

Two ways to wait, same rules:

- :meth:`GroupCommit.submit` blocks the calling thread;
- :meth:`GroupCommit.submit_async` is awaited in an asyncio event loop, which does no thread
  hop of its own: the writer settles every item of a batch waited for in one loop with one
  ``call_soon_threadsafe``.

A caller whose item the writer has not taken within ``timeout`` seconds takes it back (it is
never written) and gets :class:`~bot.core.errors.StoreUnavailable`; an item the writer took
is waited for. An error raised by ``write`` is raised in every caller whose item it held.
Whatever ``write`` does runs in the writer thread. Mind the interpreter lock: while the
caller's thread is busy, a writer that released it (for I/O, compression, hashing) gets it
back only at the caller's next release or after the switch interval (5 ms), so a write
that needs it back once per item crawls under load; keep such work with the caller and the
writer's driver calls few per batch.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from queue import Empty, SimpleQueue
from typing import Any, Generic, TypeVar, cast

from bot.core.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_QUEUED, _TAKEN, _GIVEN_UP = 0, 1, 2


class _Ticket(Generic[T, R]):
    """One item and how its caller waits: a threading.Event, or a future of its loop."""

    __slots__ = ("error", "event", "future", "item", "loop", "result", "state", "timer")

    def __init__(self, item: T) -> None:
        self.item = item
        self.state = _QUEUED
        self.result: R | None = None
        self.error: BaseException | None = None
        self.event: threading.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future[R] | None = None
        self.timer: asyncio.TimerHandle | None = None


def _busy(timeout: float) -> StoreUnavailable:
    return StoreUnavailable(f"The database is busy: no write turn within {timeout:.1f} s.")


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Sequence[R]],
        *,
        max_batch: int = 64,
        idle_seconds: float = 5.0,
        name: str = "group-commit",
        on_idle: Callable[[], None] = lambda: None,
        gather_seconds: float = 0.0,
    ) -> None:
        """``write(items)`` returns one result per item, in order; ``on_idle`` runs in the
        writer thread when it ends for want of items (to give back what it holds)."""
        self._write = write
        self._on_idle = on_idle
        self._gather = gather_seconds
        self._max = max_batch
        self._idle = idle_seconds
        self._name = name
        self._queue: SimpleQueue[_Ticket[T, R]] = SimpleQueue()
        self._lock = threading.Lock()  # ticket states and whether the writer runs
        self._running = False

    def queued(self) -> int:
        """How many items wait for the writer (not counting a batch being written)."""
        return self._queue.qsize()

    def running(self) -> bool:
        """Whether a writer thread is up (it ends after ``idle_seconds`` without items)."""
        with self._lock:
            return self._running

    # -- callers ----------------------------------------------------------------------------

    def submit(self, item: T, *, timeout: float) -> R:
        """Queue ``item`` and block until it is written; its result (see the module rules)."""
        ticket: _Ticket[T, R] = _Ticket(item)
        ticket.event = threading.Event()
        self._enqueue(ticket)
        if not ticket.event.wait(timeout) and self._give_up(ticket):
            raise _busy(timeout)
        ticket.event.wait()
        if ticket.error is not None:
            raise ticket.error
        return cast(R, ticket.result)

    async def submit_async(self, item: T, *, timeout: float) -> R:
        """Queue ``item`` and await its result in the running loop (see the module rules)."""
        loop = asyncio.get_running_loop()
        ticket: _Ticket[T, R] = _Ticket(item)
        ticket.loop = loop
        ticket.future = loop.create_future()
        ticket.timer = loop.call_later(timeout, self._time_out, ticket, timeout)
        self._enqueue(ticket)
        return await ticket.future

    def _enqueue(self, ticket: _Ticket[T, R]) -> None:
        self._queue.put(ticket)
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _give_up(self, ticket: _Ticket[T, R]) -> bool:
        """Take the ticket back unless the writer took it; True when it was taken back."""
        with self._lock:
            if ticket.state != _QUEUED:
                return False
            ticket.state = _GIVEN_UP
            return True

    def _time_out(self, ticket: _Ticket[T, R], timeout: float) -> None:  # in the loop
        future = ticket.future
        if future is not None and not future.done() and self._give_up(ticket):
            future.set_exception(_busy(timeout))

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException:  # a bug here: let the next item start a new writer
            with self._lock:
                self._running = False
            raise

    def _serve(self) -> None:
        busy = False
        while True:
            try:
                first = self._queue.get(timeout=self._idle)
            except Empty:
                self._idle_now()
                with self._lock:
                    if self._queue.empty():
                        self._running = False
                        return
                continue
            if busy and self._gather > 0:
                # Under load, let the burst gather: one batch (and one commit) for it all,
                # and the writer takes the interpreter from the event loop less often.
                time.sleep(self._gather)
            batch = [first]
            while len(batch) < self._max:
                try:
                    batch.append(self._queue.get_nowait())
                except Empty:
                    break
            self._write_batch(batch)
            busy = len(batch) > 1 or not self._queue.empty()

    def _idle_now(self) -> None:
        try:
            self._on_idle()
        except Exception:
            log.exception("%s: giving back what the writer held failed", self._name)

    def _write_batch(self, batch: list[_Ticket[T, R]]) -> None:
        with self._lock:
            taken = [t for t in batch if t.state == _QUEUED]
            for ticket in taken:
                ticket.state = _TAKEN
        if not taken:
            return
        try:
            results = self._write([t.item for t in taken])
            if len(results) != len(taken):
                raise RuntimeError(f"write returned {len(results)} results for {len(taken)}")
        except BaseException as exc:  # each caller whose item it held raises it
            for ticket in taken:
                ticket.error = exc
        else:
            for ticket, result in zip(taken, results, strict=True):
                ticket.result = result
        by_loop: dict[asyncio.AbstractEventLoop, list[_Ticket[T, R]]] = {}
        for ticket in taken:
            if ticket.loop is None:
                cast(threading.Event, ticket.event).set()
            else:
                by_loop.setdefault(ticket.loop, []).append(ticket)
        for loop, tickets in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits them
                loop.call_soon_threadsafe(_settle, tickets)


def _settle(tickets: list[_Ticket[Any, Any]]) -> None:
    """In the callers' loop: hand each ticket its result or error."""
    for ticket in tickets:
        cast(asyncio.TimerHandle, ticket.timer).cancel()
        future = cast("asyncio.Future[Any]", ticket.future)
        if future.done():  # its caller was cancelled
            continue
        if ticket.error is not None:
            future.set_exception(ticket.error)
        else:
            future.set_result(ticket.result)
