"""GitHub's rate-limit headers, and switches that make the next requests hit a limit.

Every API response carries ``x-ratelimit-limit/remaining/reset/used/resource`` for a
one-hour window of 5,000 requests (counting is real but the limit is never enforced by
itself). Tests arm a switch instead:

- ``secondary``: the next N *content-creating* requests (POST, PATCH, PUT, DELETE on a
  repository route, not token minting) answer 403 with ``retry-after: S`` and GitHub's
  content-creation message; githubkit reads that as a secondary rate limit.
- ``primary``: the next N authenticated requests of any method answer 403 with
  ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` S seconds ahead.

The limiter has its own small lock: the ASGI middleware calls it from the event loop and
must never wait for the emulator's big lock.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.emulator.errors import ApiError

LIMIT = 5000
WINDOW = timedelta(hours=1)
CONTENT_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit and have been temporarily blocked from "
    "content creation. Please retry your request again later."
)
SECONDARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


class RateLimiter:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window_start = clock()
        self._used = 0
        self._secondary = 0
        self._secondary_after = 60
        self._primary = 0
        self._primary_reset = 60

    def arm(self, kind: str, count: int, seconds: int) -> None:
        with self._lock:
            if kind == "secondary":
                self._secondary, self._secondary_after = count, seconds
            elif kind == "primary":
                self._primary, self._primary_reset = count, seconds
            else:
                raise ValueError(f"unknown rate limit kind {kind!r}")

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {"secondary": self._secondary, "primary": self._primary}

    def count_request(self) -> dict[str, str]:
        """Count one API request and return the headers its response carries."""
        with self._lock:
            now = self._clock()
            if now - self._window_start >= WINDOW:
                self._window_start, self._used = now, 0
            self._used += 1
            reset = int((self._window_start + WINDOW).timestamp())
            return {
                "x-ratelimit-limit": str(LIMIT),
                "x-ratelimit-remaining": str(max(0, LIMIT - self._used)),
                "x-ratelimit-reset": str(reset),
                "x-ratelimit-used": str(self._used),
                "x-ratelimit-resource": "core",
            }

    def check(self, method: str, installation_id: int) -> None:
        """Raise GitHub's 403 when an armed switch claims this request."""
        with self._lock:
            if self._primary > 0:
                self._primary -= 1
                reset = int(self._clock().timestamp()) + self._primary_reset
                raise ApiError(
                    403,
                    f"API rate limit exceeded for installation ID {installation_id}.",
                    documentation_url=PRIMARY_DOCS,
                    headers={
                        "x-ratelimit-limit": str(LIMIT),
                        "x-ratelimit-remaining": "0",
                        "x-ratelimit-reset": str(reset),
                        "x-ratelimit-used": str(LIMIT),
                        "x-ratelimit-resource": "core",
                    },
                )
            if self._secondary > 0 and method.upper() in CONTENT_METHODS:
                self._secondary -= 1
                raise ApiError(
                    403,
                    SECONDARY_MESSAGE,
                    documentation_url=SECONDARY_DOCS,
                    headers={"retry-after": str(self._secondary_after)},
                )
