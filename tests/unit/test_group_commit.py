"""Group commit: callers that arrive while a flush runs go out together in the next one."""

import threading
from collections.abc import Sequence

import pytest

from bot.store.group_commit import GroupCommit


def test_a_lone_caller_flushes_at_once() -> None:
    batches: list[list[int]] = []

    def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    group = GroupCommit(flush)
    assert group.submit(1) == 10
    assert group.submit(2) == 20
    assert batches == [[1], [2]]


def test_callers_arriving_during_a_flush_share_the_next_one() -> None:
    batches: list[list[int]] = []
    first_flush_running = threading.Event()
    release = threading.Event()

    def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        if len(batches) == 1:
            first_flush_running.set()
            release.wait(10)
        return [i * 10 for i in items]

    group = GroupCommit(flush)
    results: dict[int, int] = {}

    def call(item: int) -> None:
        results[item] = group.submit(item)

    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    assert first_flush_running.wait(10)
    followers = [threading.Thread(target=call, args=(n,)) for n in range(1, 6)]
    for thread in followers:
        thread.start()
    # Every follower has queued once the group holds five waiting items.
    while len(group._waiting) < 5:
        threading.Event().wait(0.001)
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)

    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5] and len(batches) == 2
    assert results == {n: n * 10 for n in range(6)}


def test_a_failed_flush_fails_every_caller_of_its_batch_and_not_the_next() -> None:
    calls = 0

    def flush(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return list(items)

    group = GroupCommit(flush)
    with pytest.raises(RuntimeError, match="database down"):
        group.submit(1)
    assert group.submit(2) == 2
