"""``POST /api/github/webhooks``: the HTTP edge of intake. Accept first, decide later.

Checks, in this order, each answered with a one-line JSON reason and nothing stored:

1. ``X-Hub-Signature-256`` missing -> 401 (nothing is read).
2. Body over 25 MB (GitHub's cap) by ``Content-Length`` or while streaming -> 413.
3. Signature not ``sha256=`` + HMAC-SHA256(secret, raw body), compared in constant time
   -> 401. Nothing is parsed before this check.
4. ``Content-Type`` not ``application/json`` -> 415 (configure the webhook to send JSON).
5. ``X-GitHub-Event`` or ``X-GitHub-Delivery`` missing or absurd -> 400.
6. Body not a JSON object -> 400 (checked by the inbox, with the payload's types).

Then the inbox checks the payload's types and stores the raw delivery in one statement
(webhooks/inbox.py): 202 (``ping``: 200), or 503 with ``Retry-After`` when the store cannot
take it. No GitHub call is made in the request: the triage loop decides the delivery
afterwards (webhooks/triage.py). The checks of a body up to 256 KB run on the event loop
(a thread hop costs more than they do); a larger body's run in a worker thread. The store
write never waits for another writer on the event loop (bot/store/deliveries.py: on SQLite
a turn's deliveries are written on the loop when the lock is free at once, else by the
store's writer thread, which the loop awaits; on PostgreSQL from the loop on an async
connection). The route is a
plain ASGI endpoint (no FastAPI request parsing), which the app hands a POST before FastAPI's
middleware and router (webhooks/app.py). A client gone before its body arrived
gets no answer and stores nothing. Every answer, errors included, is counted in
``farcaster_webhook_deliveries_total`` and logged with the delivery id (the line is built
only when INFO is on).
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
from fastapi import APIRouter
from starlette.requests import ClientDisconnect
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.store.deliveries import IncomingDelivery
from webhooks.inbox import Answer, Inbox, error_answer
from webhooks.metrics import IntakeMetrics
from webhooks.signature import is_valid_signature

log = logging.getLogger(__name__)

PATH = "/api/github/webhooks"
MAX_BODY_BYTES = 25 * 1024 * 1024
MAX_HEADER_CHARS = 100  # deliveries.delivery_id and .event are at most 100 characters
UNVERIFIED = "unverified"
INLINE_CHECK_BYTES = 256 * 1024


async def read_body_limited(receive: Receive, limit: int) -> bytes | None:
    """The raw body from the ASGI ``receive``, or None as soon as it grows past ``limit``
    bytes. Raises ClientDisconnect when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large() -> Answer:
    return error_answer(413, "payload_too_large", f"body is over {MAX_BODY_BYTES} bytes")


def check_headers(secret: str, headers: Mapping[str, str], body: bytes) -> tuple[str, str] | Answer:
    """Checks 3 to 5 above (pure): the event and the delivery id, or the error answer."""
    if not is_valid_signature(secret, body, headers.get("x-hub-signature-256")):
        return error_answer(401, "bad_signature", "X-Hub-Signature-256 does not match the body")
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return error_answer(
            415,
            "unsupported_media_type",
            f"content type {media_type or 'missing'!r} is not application/json; "
            "set the webhook's content type to application/json",
        )
    event = headers.get("x-github-event", "").strip()
    delivery_id = headers.get("x-github-delivery", "").strip()
    for name, value in (("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery_id)):
        if not value or len(value) > MAX_HEADER_CHARS:
            return error_answer(400, "bad_headers", f"{name} is missing or longer than 100")
    return event, delivery_id


def webhook_endpoint(
    inbox: Inbox,
    secret: str,
    metrics: IntakeMetrics,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> ASGIApp:
    """The endpoint of :data:`PATH` (POST). It is a plain ASGI app that answers every request
    itself, errors included: a delivery needs the raw body and a few headers, not FastAPI's
    request parsing and dependency resolution, which cost about as much per request as
    intake's own checks (webhooks/app.py even hands it the request before FastAPI's
    middleware and router)."""

    def check(headers: Mapping[str, str], body: bytes) -> tuple[str, IncomingDelivery | Answer]:
        checked = check_headers(secret, headers, body)
        if isinstance(checked, Answer):
            event = UNVERIFIED if checked.status == 401 else headers.get("x-github-event", "")
            return event, checked
        event, delivery_id = checked
        return event, inbox.check(event, delivery_id, body)

    async def process(headers: Mapping[str, str], body: bytes) -> tuple[str, Answer]:
        # A small body is checked on the event loop (a thread hop costs more than the
        # check); a large one, whose JSON takes long to parse, in a worker thread.
        if len(body) <= INLINE_CHECK_BYTES:
            event, checked = check(headers, body)
        else:
            event, checked = await anyio.to_thread.run_sync(check, headers, body)
        if isinstance(checked, Answer):
            return event, checked
        return event, await inbox.store(checked)

    async def guarded(headers: Mapping[str, str], body: bytes) -> tuple[str, Answer]:
        try:
            return await process(headers, body)
        except Exception:  # a bug: still counted and logged with the delivery id
            delivery_id = headers.get("x-github-delivery", "")[:MAX_HEADER_CHARS]
            log.exception("delivery %r: intake crashed", delivery_id)
            answer = error_answer(500, "internal_error", "intake failed; see its log")
            return headers.get("x-github-event", ""), answer

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        started = clock()
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # lower case already (ASGI); the first one wins
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        try:
            event, answer = await _receive(headers, receive, guarded)
        except ClientDisconnect:
            return  # nobody to answer; nothing was stored
        seconds = clock() - started
        metrics.observe(event, answer.outcome, seconds)
        if log.isEnabledFor(logging.INFO):
            delivery_id = headers.get("x-github-delivery", "")[:MAX_HEADER_CHARS]
            log.info(
                "delivery %r (%s): %d %s in %.1f ms",
                delivery_id,
                event,
                answer.status,
                answer.outcome,
                seconds * 1000,
                extra={"delivery_id": delivery_id, "job_id": answer.body.get("job_id")},
            )
        await _answer(send, answer)

    return _AsgiEndpoint(endpoint)


def webhook_routes(endpoint: ASGIApp) -> APIRouter:
    """The route of :data:`PATH` (POST) to ``endpoint``, for FastAPI's router."""
    router = APIRouter()
    router.routes.append(Route(PATH, endpoint, methods=["POST"]))
    return router


class _AsgiEndpoint:
    """An ASGI app (not a function), so that Starlette's Route calls it as it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


async def _answer(send: Send, answer: Answer) -> None:
    """The answer as a JSON response, rendered as Starlette's JSONResponse renders it."""
    content = json.dumps(
        answer.body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
    headers = [
        (b"content-length", str(len(content)).encode("latin-1")),
        (b"content-type", b"application/json"),
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
    ]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


async def _receive(
    headers: Mapping[str, str],
    receive: Receive,
    process: Callable[[Mapping[str, str], bytes], Awaitable[tuple[str, Answer]]],
) -> tuple[str, Answer]:
    if not headers.get("x-hub-signature-256"):
        return UNVERIFIED, error_answer(401, "bad_signature", "X-Hub-Signature-256 is missing")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return UNVERIFIED, _too_large()
    body = await read_body_limited(receive, MAX_BODY_BYTES)
    if body is None:
        return UNVERIFIED, _too_large()
    return await process(headers, body)
