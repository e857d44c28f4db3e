"""The journal: one entry per request the emulator answered, for tests to count effects.

An ASGI middleware records method, path, query, status, time, duration and a short
summary of the request body (JSON keys with truncated values; anything that looks like a
secret, key or token is replaced by ``***``). Reads of the admin API itself
(``GET /_emulator/...``) are not recorded, so polling the journal does not grow it. The
same middleware stamps the rate-limit headers on every ``/api/v3`` response.
"""

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.emulator.gitrepo import utc
from bot.emulator.ratelimit import RateLimiter
from bot.emulator.render import API_PREFIX

MAX_ENTRIES = 100_000
_SECRET_KEY = re.compile(r"secret|pem|key|token|password", re.IGNORECASE)
_BODY_CAPTURE = 16_384


@dataclass(frozen=True)
class Entry:
    seq: int
    time: str
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    summary: str


class Journal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._seq = 0

    def record(self, **fields: Any) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append(Entry(seq=self._seq, **fields))
            if len(self._entries) > MAX_ENTRIES:
                del self._entries[: len(self._entries) - MAX_ENTRIES]

    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def query(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        contains: str | None = None,
        status: int | None = None,
        since: int = 0,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries after ``since``, oldest first; ``path`` is a prefix, ``contains`` a substring."""
        with self._lock:
            found = [
                e
                for e in self._entries
                if e.seq > since
                and (method is None or e.method == method.upper())
                and (path is None or e.path.startswith(path))
                and (contains is None or contains in e.path)
                and (status is None or e.status == status)
            ]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return [asdict(e) for e in found]


def summarize(body: bytes, limit: int = 300) -> str:
    if not body:
        return ""
    try:
        value = json.loads(body)
    except ValueError:
        return f"<{len(body)} bytes>"
    return json.dumps(_shorten(value), ensure_ascii=False)[:limit]


def _shorten(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict):
        if depth >= 2:
            return f"{{{len(value)} keys}}"
        return {
            k: "***" if _SECRET_KEY.search(k) and v else _shorten(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        if depth >= 2 or len(value) > 3:
            return f"[{len(value)} items]"
        return [_shorten(v, depth + 1) for v in value]
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "..."
    return value


class JournalMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        journal: Journal,
        limiter: RateLimiter,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.app = app
        self.journal = journal
        self.limiter = limiter
        self.clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        is_api = path.startswith(API_PREFIX + "/")
        captured = bytearray()
        status = 500
        started = time.monotonic()

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(captured) < _BODY_CAPTURE:
                captured.extend(message.get("body", b"")[: _BODY_CAPTURE - len(captured)])
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                # GitHub's Date is GitHub's clock: a client may correct its JWTs by it.
                headers["Date"] = format_datetime(self.clock(), usegmt=True)
                if is_api:
                    for name, value in self.limiter.count_request().items():
                        if name not in headers:
                            headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_with_headers)
        finally:
            if not (method == "GET" and path.startswith("/_emulator/")):
                self.journal.record(
                    time=utc(datetime.now().astimezone()),
                    method=method,
                    path=path,
                    query=scope.get("query_string", b"").decode(errors="replace"),
                    status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 2),
                    summary=summarize(bytes(captured)),
                )
