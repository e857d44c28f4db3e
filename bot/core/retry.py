"""Backoff between attempts: exponential, capped, with full jitter (pure; jitter injected)."""

import random
from collections.abc import Callable

BASE_SECONDS = 2.0
CAP_SECONDS = 300.0


def backoff_seconds(
    attempt: int,
    *,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Delay before the attempt after ``attempt`` (1-based): up to base * 2**(attempt-1), capped.

    Half the delay is fixed and half is random, so retries spread out without ever
    coming back immediately.
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return float(ceiling / 2 + jitter() * ceiling / 2)
