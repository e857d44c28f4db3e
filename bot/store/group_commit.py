"""Group commit: concurrent callers' rows written by one of them, in one statement.

Each caller queues its item and then competes for the writer's turn. The caller that gets it
takes every item queued so far (its own included) and writes them all with ``write``; the
others find their item written when their turn comes, and return at once. Under load a
burst of N deliveries costs one statement and one commit instead of N (SQLite has one writer
anyway; on PostgreSQL each commit is a round trip and a WAL flush); alone, a caller writes
its own item straight away, with no waiting for company.

A caller that cannot get the turn within its timeout takes its item back if nobody has taken
it yet and raises :class:`~bot.core.errors.StoreUnavailable`; an item already being written
is waited for. An error in ``write`` is raised in every caller whose item it held.
"""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bot.core.errors import StoreUnavailable

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[R]):
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[Sequence[T]], Sequence[R]], *, max_batch: int = 64):
        """``write(items)`` returns one result per item, in order."""
        self._write = write
        self._max = max_batch
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()
        self._queue: list[tuple[T, _Slot[R]]] = []

    def submit(self, item: T, *, timeout: float) -> R:
        slot: _Slot[R] = _Slot()
        with self._queue_lock:
            self._queue.append((item, slot))
        deadline = time.monotonic() + timeout
        while True:
            if self._turn.acquire(timeout=max(0.0, deadline - time.monotonic())):
                try:
                    if not slot.done:
                        self._write_queued()
                finally:
                    self._turn.release()
            elif not slot.done:
                with self._queue_lock:
                    queued = any(s is slot for _, s in self._queue)
                    if queued:
                        self._queue = [(i, s) for i, s in self._queue if s is not slot]
                if queued:
                    raise StoreUnavailable(
                        f"The database is busy: no write turn within {timeout:.1f} s."
                    )
                continue  # a writer holds our item: its write ends within its own timeout
            if slot.done:
                if slot.error is not None:
                    raise slot.error
                return slot.result  # type: ignore[return-value]

    def _write_queued(self) -> None:
        with self._queue_lock:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        if not batch:
            return
        try:
            results = self._write([item for item, _ in batch])
        except Exception as exc:  # each caller whose item it held raises it
            for _, slot in batch:
                slot.error, slot.done = exc, True
            return
        for (_, slot), result in zip(batch, results, strict=True):
            slot.result, slot.done = result, True
