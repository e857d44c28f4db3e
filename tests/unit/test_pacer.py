"""The client's pacer: one token per write, or a burst at a time inside an allowance."""

from typing import cast

import pytest

from bot.core.errors import Paced
from bot.store.pacing import Bucket, Pacing, allowance, pacer


class Bucketful:
    """The store's bucket as the pacer sees it: takes of ``count`` tokens, or a wait."""

    def __init__(self, tokens: int) -> None:
        self.bucket = Bucket(rate=1.0, burst=10)
        self.tokens = tokens
        self.takes: list[int] = []

    def take(self, installation_id: int, count: int = 1) -> float:
        self.takes.append(count)
        if self.tokens < count:
            return float(count - self.tokens)
        self.tokens -= count
        return 0.0


def test_outside_an_allowance_each_write_takes_one_token() -> None:
    store = Bucketful(tokens=2)
    pace = pacer(cast(Pacing, store), 1)
    pace()
    pace()
    with pytest.raises(Paced) as paced:
        pace()
    assert paced.value.retry_after == 1.0 and store.takes == [1, 1, 1]


def test_an_allowance_takes_a_burst_at_a_time_and_waits_for_the_next() -> None:
    store = Bucketful(tokens=10)
    pace = pacer(cast(Pacing, store), 1)
    with allowance(14):
        for _ in range(10):
            pace()
        assert store.takes == [10]  # one take for ten writes
        with pytest.raises(Paced) as paced:
            pace()  # four more expected: wait for four tokens, not ten
    assert store.takes == [10, 4] and paced.value.retry_after == 4.0
