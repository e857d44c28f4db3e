"""``POST /api/github/webhooks``: the HTTP edge of intake. Accept first, decide later.

Checks, in this order, each answered with a one-line JSON reason and nothing stored:

1. ``X-Hub-Signature-256`` missing -> 401 (nothing is read).
2. Body over 25 MB (GitHub's cap) by ``Content-Length`` or while streaming -> 413.
3. Signature not ``sha256=`` + HMAC-SHA256(secret, raw body), compared in constant time
   -> 401. Nothing is parsed before this check.
4. ``Content-Type`` not ``application/json`` -> 415 (configure the webhook to send JSON).
5. ``X-GitHub-Event`` or ``X-GitHub-Delivery`` missing or absurd -> 400.
6. Body not a JSON object -> 400.

Then the inbox checks the payload's types and stores the raw delivery in one statement
(webhooks/inbox.py): 202 (``ping``: 200), or 503 with ``Retry-After`` when the store cannot
take it. No GitHub call is made in the request: the triage loop decides the delivery
afterwards (webhooks/triage.py). The checks of a body up to 256 KB run on the event loop
(a thread hop costs more than they do); a larger body's, and every store write, run in a
worker thread. Every answer, errors included, is counted in
``farcaster_webhook_deliveries_total`` and logged with the delivery id.
"""

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from bot.store.deliveries import IncomingDelivery
from webhooks.inbox import Answer, Inbox, error_answer
from webhooks.metrics import IntakeMetrics
from webhooks.routing import Delivery
from webhooks.signature import is_valid_signature

log = logging.getLogger(__name__)

PATH = "/api/github/webhooks"
MAX_BODY_BYTES = 25 * 1024 * 1024
MAX_HEADER_CHARS = 100  # deliveries.delivery_id and .event are at most 100 characters
UNVERIFIED = "unverified"
INLINE_CHECK_BYTES = 256 * 1024


async def read_body_limited(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large() -> Answer:
    return error_answer(413, "payload_too_large", f"body is over {MAX_BODY_BYTES} bytes")


def check_delivery(secret: str, headers: Mapping[str, str], body: bytes) -> Delivery | Answer:
    """Checks 3 to 6 above (pure): a verified :class:`Delivery`, or the error answer."""
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
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return error_answer(400, "bad_json", f"body is not valid JSON: {exc}")
    if not isinstance(payload, dict):
        return error_answer(400, "bad_json", "body is JSON but not an object")
    return Delivery(
        id=delivery_id,
        event=event,
        payload=payload,
        body_sha256=hashlib.sha256(body).hexdigest(),
    )


def webhook_routes(
    inbox: Inbox,
    secret: str,
    metrics: IntakeMetrics,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> APIRouter:
    router = APIRouter()

    def check(headers: Mapping[str, str], body: bytes) -> tuple[str, IncomingDelivery | Answer]:
        checked = check_delivery(secret, headers, body)
        if isinstance(checked, Answer):
            return UNVERIFIED if checked.status == 401 else headers.get(
                "x-github-event", ""
            ), checked
        return checked.event, inbox.check(checked, body)

    async def process(headers: Mapping[str, str], body: bytes) -> tuple[str, Answer]:
        # A small body is checked on the event loop (a thread hop costs more than the
        # check); a large one, whose JSON takes long to parse, in a worker thread.
        if len(body) <= INLINE_CHECK_BYTES:
            event, checked = check(headers, body)
        else:
            event, checked = await anyio.to_thread.run_sync(check, headers, body)
        if isinstance(checked, Answer):
            return event, checked
        return event, await anyio.to_thread.run_sync(inbox.store, checked)

    async def guarded(headers: Mapping[str, str], body: bytes) -> tuple[str, Answer]:
        try:
            return await process(headers, body)
        except Exception:  # a bug: still counted and logged with the delivery id
            delivery_id = headers.get("x-github-delivery", "")[:MAX_HEADER_CHARS]
            log.exception("delivery %r: intake crashed", delivery_id)
            answer = error_answer(500, "internal_error", "intake failed; see its log")
            return headers.get("x-github-event", ""), answer

    @router.post(PATH)
    async def receive(request: Request) -> Response:
        started = clock()
        event, answer = await _receive(request, guarded)
        seconds = clock() - started
        metrics.observe(event, answer.outcome, seconds)
        delivery_id = request.headers.get("x-github-delivery", "")[:MAX_HEADER_CHARS]
        log.info(
            "delivery %r (%s): %d %s in %.1f ms",
            delivery_id,
            event,
            answer.status,
            answer.outcome,
            seconds * 1000,
            extra={"delivery_id": delivery_id, "job_id": answer.body.get("job_id")},
        )
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    return router


async def _receive(
    request: Request,
    process: Callable[[Mapping[str, str], bytes], Awaitable[tuple[str, Answer]]],
) -> tuple[str, Answer]:
    headers = request.headers
    if not headers.get("x-hub-signature-256"):
        return UNVERIFIED, error_answer(401, "bad_signature", "X-Hub-Signature-256 is missing")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return UNVERIFIED, _too_large()
    body = await read_body_limited(request, MAX_BODY_BYTES)
    if body is None:
        return UNVERIFIED, _too_large()
    plain = {k.lower(): v for k, v in headers.items()}
    return await process(plain, body)
