"""The App's webhook: its configuration and its deliveries (App JWT only, like GitHub's
``/app/hook/*``).

- ``GET /app/hook/config`` answers ``{"content_type": "json", "insecure_ssl": "0",
  "secret": "********", "url"}`` (the secret masked, keys absent when unset); ``PATCH``
  with ``url``/``secret`` changes them.
- ``GET /app/hook/deliveries?per_page=&cursor=&status=`` lists the App's delivery
  attempts, newest first: one item per attempt, so a redelivery is its own item with a new
  ``id``, the same ``guid`` and ``redelivery: true``. ``per_page`` defaults to 30 and is
  capped at 100 (a larger value is clamped, not refused). When more items follow, a
  ``Link: <...&cursor=v1_ID>; rel="next"`` header points at the next page; the cursor is
  opaque to clients. ``status=success`` keeps items whose ``status_code`` is 200-399,
  ``status=failure`` those in 400-599 (GitHub's definition; an unreachable receiver is
  ``"failed to connect to host"`` with 502, so it counts as a failure).
- ``GET /app/hook/deliveries/{id}`` adds ``url``, ``request`` (``headers``, ``payload``)
  and ``response`` (``headers``, ``payload``: the body text, null when nothing answered).
- ``POST /app/hook/deliveries/{id}/attempts`` answers 202 ``{}`` and redelivers in the
  background (GitHub queues it too): the same bytes under the same ``X-GitHub-Delivery``,
  recorded as a new attempt with ``redelivery: true``. ``POST
  /_emulator/deliveries/drain`` waits for it.

GitHub keeps deliveries for three days: older attempts are neither listed nor shown
(404), and redelivering one answers 422. Unknown ids, and ids of another App's deliveries,
answer 404. Modelled, not copied (GitHub documents the codes, not the sentences): the 422
sentence, and 400 ``Invalid cursor`` for a cursor this emulator did not hand out.
"""

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from bot.emulator.auth import app_from_jwt
from bot.emulator.deps import Dispatch, Em
from bot.emulator.errors import ApiError, not_found, unprocessable
from bot.emulator.gitrepo import utc
from bot.emulator.hooks import outcome
from bot.emulator.state import App, Attempt, Delivery, Emulator

router = APIRouter()
JsonBody = Annotated[dict[str, Any], Body()]
DOCS = "https://docs.github.com/rest/apps/webhooks"
RETENTION = timedelta(days=3)
MAX_PER_PAGE = 100
CURSOR_PREFIX = "v1_"
STATUS_RANGES = {"success": range(200, 400), "failure": range(400, 600)}


def item(delivery: Delivery, attempt: Attempt) -> dict[str, Any]:
    status, status_code = outcome(attempt)
    return {
        "id": attempt.id,
        "guid": delivery.guid,
        "delivered_at": utc(attempt.at),
        "redelivery": attempt.redelivery,
        "duration": attempt.duration,
        "status": status,
        "status_code": status_code,
        "event": delivery.event,
        "action": delivery.action,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "throttled_at": None,
    }


def detail(delivery: Delivery, attempt: Attempt) -> dict[str, Any]:
    answered = attempt.status is not None
    return {
        **item(delivery, attempt),
        "url": attempt.url or delivery.url,
        "request": {"headers": dict(attempt.request_headers), "payload": json.loads(delivery.body)},
        "response": {
            "headers": dict(attempt.response_headers) if answered else None,
            "payload": attempt.response_body if answered else None,
        },
    }


def _visible(em: Emulator, app: App) -> list[tuple[Delivery, Attempt]]:
    """The App's attempts still kept, newest first."""
    oldest = em.now() - RETENTION
    return [
        (d, a) for d, a in reversed(em.attempts.values()) if d.app_id == app.id and a.at >= oldest
    ]


def _find(em: Emulator, app: App, delivery_id: int) -> tuple[Delivery, Attempt] | None:
    found = em.attempts.get(delivery_id)
    if found is None or found[0].app_id != app.id:
        return None
    return found


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    number = value.removeprefix(CURSOR_PREFIX)
    if not value.startswith(CURSOR_PREFIX) or not number.isdigit():
        raise ApiError(400, "Invalid cursor", documentation_url=DOCS)
    return int(number)


def _config(app: App) -> dict[str, Any]:
    body: dict[str, Any] = {"content_type": "json", "insecure_ssl": "0"}
    if app.webhook_secret:
        body["secret"] = "********"  # GitHub never shows it
    if app.webhook_url:
        body["url"] = app.webhook_url
    return body


@router.get("/app/hook/config")
def get_config(em: Em, request: Request) -> dict[str, Any]:
    with em.lock:
        return _config(app_from_jwt(em, request.headers.get("authorization")))


@router.patch("/app/hook/config")
def update_config(em: Em, request: Request, body: JsonBody) -> dict[str, Any]:
    for field in ("url", "secret", "content_type", "insecure_ssl"):
        if field in body and not isinstance(body[field], str):
            raise unprocessable(f"Invalid request.\n\n{field} must be a string.", DOCS)
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        if "url" in body:
            app.webhook_url = body["url"] or None
        if "secret" in body:
            app.webhook_secret = body["secret"] or None
        return _config(app)


@router.get("/app/hook/deliveries")
def list_deliveries(
    em: Em,
    request: Request,
    response: Response,
    per_page: int = 30,
    cursor: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))  # first, as GitHub
    if status is not None and status not in STATUS_RANGES:
        raise unprocessable(
            f"Invalid request.\n\n{status!r} is not one of: success, failure.", DOCS
        )
    start = _cursor(cursor)
    size = max(1, min(per_page, MAX_PER_PAGE))
    with em.lock:
        found = [
            (d, a)
            for d, a in _visible(em, app)
            if (start is None or a.id <= start)
            and (status is None or outcome(a)[1] in STATUS_RANGES[status])
        ]
        page = [item(d, a) for d, a in found[:size]]
    if len(found) > size:
        after = found[size][1].id
        url = request.url.remove_query_params("cursor").include_query_params(
            cursor=f"{CURSOR_PREFIX}{after}", per_page=size
        )
        response.headers["link"] = f'<{url}>; rel="next"'
    return page


@router.get("/app/hook/deliveries/{delivery_id}")
def get_delivery(em: Em, request: Request, delivery_id: int) -> dict[str, Any]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        found = _find(em, app, delivery_id)
        if found is None or found[1].at < em.now() - RETENTION:
            raise not_found(f"{DOCS}#get-a-delivery-for-an-app-webhook")
        return detail(*found)


@router.post("/app/hook/deliveries/{delivery_id}/attempts", status_code=202)
def redeliver(em: Em, dispatch: Dispatch, request: Request, delivery_id: int) -> dict[str, Any]:
    with em.lock:
        app = app_from_jwt(em, request.headers.get("authorization"))
        found = _find(em, app, delivery_id)
        if found is None:
            raise not_found(f"{DOCS}#redeliver-a-delivery-for-an-app-webhook")
        if found[1].at < em.now() - RETENTION:
            raise unprocessable(
                "This delivery is older than 3 days and can no longer be redelivered.",
                f"{DOCS}#redeliver-a-delivery-for-an-app-webhook",
            )
    dispatch.submit([found[0]], redelivery=True)
    return {}
