"""Group commit: one caller writes everyone's queued items; a caller that times out takes
its item back; a write error reaches every caller whose item it held."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.errors import StoreUnavailable
from bot.store.group_commit import GroupCommit


def test_callers_queued_behind_a_write_are_written_together_in_the_next_one():
    batches: list[list[int]] = []
    first_write_started, release_first = threading.Event(), threading.Event()

    def write(items):
        batches.append(list(items))
        if len(batches) == 1:
            first_write_started.set()
            release_first.wait(5)
        return [item * 10 for item in items]

    group = GroupCommit(write)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(group.submit, 0, timeout=5)
        assert first_write_started.wait(5)
        rest = [pool.submit(group.submit, n, timeout=5) for n in range(1, 5)]
        while len(group._queue) < 4:  # all four queued behind the first write
            threading.Event().wait(0.01)
        release_first.set()
        results = [first.result(), *(f.result() for f in rest)]

    assert results == [0, 10, 20, 30, 40]
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4]  # one write for the four
    assert len(batches) == 2


def test_a_caller_that_gets_no_turn_in_time_takes_its_item_back():
    written: list[int] = []
    group = GroupCommit(lambda items: written.extend(items) or list(items))
    group._turn.acquire()  # someone else writes, for ever
    with pytest.raises(StoreUnavailable, match="no write turn"):
        group.submit(7, timeout=0.05)
    group._turn.release()
    assert group.submit(8, timeout=1) == 8
    assert written == [8]  # 7 was never written after its caller gave up


def test_a_failed_write_is_raised_in_the_caller():
    def write(items):
        raise StoreUnavailable("The database could not serve the call: disk I/O error.")

    with pytest.raises(StoreUnavailable, match="disk I/O"):
        GroupCommit(write).submit(1, timeout=1)
