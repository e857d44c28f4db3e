"""Group commit: the writer thread writes every item queued behind a write in one batch; a
caller whose item was not taken in time takes it back; a write error reaches every caller
whose item it held; callers in an event loop await their results without a thread of their
own; the writer gives back what it holds when it idles, and starts again for the next item."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.errors import StoreUnavailable
from bot.store.group_commit import GroupCommit


class BlockingWrite:
    """A write that records its batches and holds the first one until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release_first.wait(5)
        return [item * 10 for item in items]

    @property
    def written(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


def wait_until(condition) -> None:
    event = threading.Event()
    for _ in range(500):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("the condition never held")


def test_callers_queued_behind_a_write_are_written_together_in_the_next_one():
    write = BlockingWrite()
    group = GroupCommit(write)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(group.submit, 0, timeout=5)
        assert write.first_started.wait(5)
        rest = [pool.submit(group.submit, n, timeout=5) for n in range(1, 5)]
        wait_until(lambda: group.queued() == 4)  # all four queued behind the first write
        write.release_first.set()
        results = [first.result(), *(f.result() for f in rest)]

    assert results == [0, 10, 20, 30, 40]
    assert write.batches[0] == [0]
    assert sorted(write.batches[1]) == [1, 2, 3, 4]  # one write for the four
    assert len(write.batches) == 2


def test_a_caller_whose_item_was_not_taken_in_time_takes_it_back():
    write = BlockingWrite()
    group = GroupCommit(write)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(group.submit, 0, timeout=5)
        assert write.first_started.wait(5)
        with pytest.raises(StoreUnavailable, match="no write turn"):
            group.submit(7, timeout=0.05)  # the writer is busy with 0 all along
        write.release_first.set()
        assert first.result() == 0
    assert group.submit(8, timeout=5) == 80
    assert write.written == [0, 8]  # 7 was never written after its caller gave up


def test_a_failed_write_is_raised_in_every_caller_whose_item_it_held():
    def write(items):
        raise StoreUnavailable("The database could not serve the call: disk I/O error.")

    group = GroupCommit(write)
    with pytest.raises(StoreUnavailable, match="disk I/O"):
        group.submit(1, timeout=1)

    async def both():
        return await asyncio.gather(
            group.submit_async(2, timeout=1),
            group.submit_async(3, timeout=1),
            return_exceptions=True,
        )

    assert [type(e) for e in asyncio.run(both())] == [StoreUnavailable, StoreUnavailable]


def test_callers_in_an_event_loop_await_their_results_and_share_batches():
    write = BlockingWrite()
    group = GroupCommit(write)

    async def main():
        first = asyncio.ensure_future(group.submit_async(0, timeout=5))
        while not write.first_started.is_set():
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(group.submit_async(n, timeout=5)) for n in range(1, 9)]
        while group.queued() < 8:
            await asyncio.sleep(0.01)
        write.release_first.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [n * 10 for n in range(9)]
    assert sorted(write.batches[1]) == list(range(1, 9))


def test_an_awaited_item_not_taken_in_time_is_never_written():
    write = BlockingWrite()
    group = GroupCommit(write)

    async def main():
        first = asyncio.ensure_future(group.submit_async(0, timeout=5))
        while not write.first_started.is_set():
            await asyncio.sleep(0.01)
        with pytest.raises(StoreUnavailable, match="no write turn"):
            await group.submit_async(7, timeout=0.05)
        write.release_first.set()
        return await first, await group.submit_async(8, timeout=5)

    assert asyncio.run(main()) == (0, 80)
    assert write.written == [0, 8]


def test_the_writer_gives_back_what_it_holds_when_idle_and_starts_again():
    idled = threading.Event()
    group = GroupCommit(lambda items: list(items), idle_seconds=0.05, on_idle=idled.set)

    assert group.submit(1, timeout=5) == 1
    assert idled.wait(5)
    wait_until(lambda: not group.running())
    assert group.submit(2, timeout=5) == 2  # a new writer thread took it
