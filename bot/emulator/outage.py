"""An API outage switch: GitHub's REST API answers 502 while webhooks still go out.

``POST /_emulator/outage`` ``{"seconds": S}`` (real time, not the emulator's clock) or
``{"count": N}`` (the next N API requests), with ``status`` (502 by default; 500, 503 and
504 are GitHub's other gateway answers) arms it; ``{"seconds": 0}`` ends it. While it
lasts, every request under ``/api/v3`` (App routes and token minting included) answers
``status`` with GitHub's body ``{"message": "Server Error"}``, before authentication or
any state change, so nothing a refused call asked for happens. The admin API, codeload and
webhook deliveries are unaffected: GitHub's hooks keep arriving when its API fails.

The switch has its own small lock, like the rate limiter: the ASGI middleware runs on the
event loop and must never wait for the emulator's big lock.
"""

import json
import threading
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bot.emulator.render import API_PREFIX

GATEWAY_STATUSES = (500, 502, 503, 504)
BODY = json.dumps({"message": "Server Error"}).encode()


class Outage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._count = 0
        self._status = 502
        self.refused = 0

    def arm(self, *, seconds: float | None, count: int | None, status: int) -> None:
        if status not in GATEWAY_STATUSES:
            raise ValueError(f"status must be one of {GATEWAY_STATUSES}")
        with self._lock:
            self._status = status
            self._until = time.monotonic() + seconds if seconds else 0.0
            self._count = count or 0

    def claim(self) -> int | None:
        """The status this request gets, or None when the API is up."""
        with self._lock:
            if time.monotonic() < self._until:
                self.refused += 1
                return self._status
            if self._count > 0:
                self._count -= 1
                self.refused += 1
                return self._status
            return None

    def state(self) -> dict[str, Any]:
        with self._lock:
            remaining = max(0.0, self._until - time.monotonic())
            return {
                "active": remaining > 0 or self._count > 0,
                "seconds_left": round(remaining, 2),
                "count_left": self._count,
                "status": self._status,
                "refused": self.refused,
            }


class OutageMiddleware:
    def __init__(self, app: ASGIApp, outage: Outage) -> None:
        self.app = app
        self.outage = outage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX + "/"):
            status = self.outage.claim()
            if status is not None:
                headers = [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(BODY)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": BODY})
                return
        await self.app(scope, receive, send)
