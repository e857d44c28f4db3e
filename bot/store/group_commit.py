"""Group commit: calls from several threads at once share one flush.

A caller submits an item and waits for its result. If no flush is running, the caller
leads one at once with every item waiting, its own included: a lone caller never waits
for company. If a flush is running, the caller waits; when that flush ends, the items that
arrived meanwhile go out together in the next one, led by one of their callers. So a
batch forms exactly when the store is busy, and a caller waits at most for one flush
before its own.

``flush`` takes the items and returns one result per item, in order. If it raises, every
caller of that batch gets the exception.
"""

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Waiting(Generic[T, R]):
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: T) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Callable[[Sequence[T]], Sequence[R]]) -> None:
        self._flush = flush
        self._changed = threading.Condition()
        self._waiting: list[_Waiting[T, R]] = []
        self._flushing = False

    def submit(self, item: T) -> R:
        """The item's result, once a flush that included it has ended."""
        mine: _Waiting[T, R] = _Waiting(item)
        with self._changed:
            self._waiting.append(mine)
            while self._flushing and not mine.done:
                self._changed.wait()
            if not mine.done:
                self._flushing = True
                batch, self._waiting = self._waiting, []
        if not mine.done:
            self._lead(batch)
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]  # set by the flush that included it

    def _lead(self, batch: list[_Waiting[T, R]]) -> None:
        try:
            results = self._flush([w.item for w in batch])
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
        except BaseException as exc:
            for waiting in batch:
                waiting.error = exc
        finally:
            with self._changed:
                for waiting in batch:
                    waiting.done = True
                self._flushing = False
                self._changed.notify_all()
