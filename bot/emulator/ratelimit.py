"""GitHub's rate-limit headers, and switches that make the next requests hit a limit.

Every API response carries ``x-ratelimit-limit/remaining/reset/used/resource`` for a
one-hour window of 5,000 requests (counting is real but the limit is never enforced by
itself). Tests arm a switch instead:

- ``secondary``: the next N *content-creating* requests (POST, PATCH, PUT, DELETE on a
  repository route, not token minting) answer 403 with ``retry-after: S`` and GitHub's
  content-creation message; githubkit reads that as a secondary rate limit.
- ``primary``: the next N authenticated requests of any method answer 403 with
  ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` S seconds ahead.
- ``content``: GitHub's content-creation limit, enforced per installation: at most
  ``per_minute`` (80) content-creating requests in any 60 s and ``per_hour`` (500) in any
  hour of the emulator's clock; the next one answers the same 403 with ``retry-after`` set
  to the seconds until the oldest counted request leaves its window. Refused requests are
  not counted. Moving the clock forward (``POST /_emulator/clock``) frees the window
  without sleeping. Off until switched on.

The limiter has its own small lock: the ASGI middleware calls it from the event loop and
must never wait for the emulator's big lock.
"""

import math
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

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
        self._content_limits: tuple[int, int] | None = None  # (per minute, per hour)
        self._content_log: dict[int, deque[datetime]] = {}

    def arm(self, kind: str, count: int, seconds: int) -> None:
        with self._lock:
            if kind == "secondary":
                self._secondary, self._secondary_after = count, seconds
            elif kind == "primary":
                self._primary, self._primary_reset = count, seconds
            else:
                raise ValueError(f"unknown rate limit kind {kind!r}")

    def limit_content(self, per_minute: int | None, per_hour: int | None) -> None:
        """Enforce GitHub's content-creation limits (None for both switches them off)."""
        with self._lock:
            if per_minute is None and per_hour is None:
                self._content_limits = None
            else:
                self._content_limits = (per_minute or 80, per_hour or 500)
            self._content_log.clear()

    def pending(self) -> dict[str, Any]:
        with self._lock:
            limits = self._content_limits
            return {
                "secondary": self._secondary,
                "primary": self._primary,
                "content": (
                    None if limits is None else {"per_minute": limits[0], "per_hour": limits[1]}
                ),
            }

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
            if method.upper() not in CONTENT_METHODS:
                return
            if self._secondary > 0:
                self._secondary -= 1
                raise _secondary(self._secondary_after)
            if self._content_limits is not None:
                wait = self._content_wait(installation_id, *self._content_limits)
                if wait is not None:
                    raise _secondary(wait)

    def _content_wait(self, installation_id: int, per_minute: int, per_hour: int) -> int | None:
        """Seconds to wait, or None after counting this request (lock held)."""
        now = self._clock()
        log = self._content_log.setdefault(installation_id, deque())
        while log and now - log[0] >= timedelta(hours=1):
            log.popleft()
        minute = [at for at in log if now - at < timedelta(minutes=1)]
        if len(minute) >= per_minute:
            free_at = minute[len(minute) - per_minute] + timedelta(minutes=1)
        elif len(log) >= per_hour:
            free_at = log[len(log) - per_hour] + timedelta(hours=1)
        else:
            log.append(now)
            return None
        return max(1, math.ceil((free_at - now).total_seconds()))


def _secondary(retry_after: int) -> ApiError:
    return ApiError(
        403,
        SECONDARY_MESSAGE,
        documentation_url=SECONDARY_DOCS,
        headers={"retry-after": str(retry_after)},
    )
