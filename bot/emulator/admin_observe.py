"""Admin routes that observe or bend the emulator: journal, state, deliveries (and
redelivery, and waiting for background ones), rate-limit switches, the clock. The
reference is in the package docstring.
"""

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from bot.emulator import api_hooks, census, hooks
from bot.emulator.deps import Dispatch, Em, UrlsDep, get_limiter, get_outage
from bot.emulator.errors import ApiError, not_found, unprocessable
from bot.emulator.gitrepo import utc
from bot.emulator.journal import Journal

router = APIRouter(prefix="/_emulator")
JsonBody = Annotated[dict[str, Any], Body()]


@router.get("")
@router.get("/")
def index(em: Em, urls: UrlsDep) -> dict[str, Any]:
    """A readiness probe that also says where the API is."""
    return {"emulator": "farcaster", "web_url": urls.web, "api_url": urls.api}


@router.get("/journal")
def journal(
    request: Request,
    method: str | None = None,
    path: str | None = None,
    contains: str | None = None,
    status: int | None = None,
    since: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    """Requests answered, oldest first. ``path`` is a prefix (e.g. ``/api/v3/repos/o/r/pulls``),
    ``contains`` a substring, ``since`` a sequence number (entries after it)."""
    log: Journal = request.app.state.journal
    entries = log.query(
        method=method, path=path, contains=contains, status=status, since=since, limit=limit
    )
    return {"entries": entries, "last_seq": log.last_seq()}


@router.get("/state")
def state(em: Em, request: Request) -> dict[str, Any]:
    with em.lock:
        result = census.counts(em)
        result["clock"] = {"now": utc(em.now()), "offset_seconds": em.clock_offset.total_seconds()}
    result["rate_limit_pending"] = get_limiter(request).pending()
    result["outage"] = get_outage(request).state()
    return result


@router.get("/deliveries")
def deliveries(em: Em, event: str | None = None, action: str | None = None) -> list[dict[str, Any]]:
    with em.lock:
        return [
            hooks.describe(d)
            for group in em.deliveries.values()
            for d in group
            if (event is None or d.event == event) and (action is None or d.action == action)
        ]


@router.get("/hook-deliveries")
def hook_deliveries(
    em: Em, app_id: int | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Every attempt as ``GET /app/hook/deliveries`` lists it (newest first, unpaged, no
    JWT needed): ``app_id`` picks one App, ``status`` is ``success`` or ``failure``."""
    ranges = api_hooks.STATUS_RANGES
    if status is not None and status not in ranges:
        raise unprocessable("status must be success or failure")
    with em.lock:
        return [
            {**api_hooks.item(d, a), "app_id": d.app_id}
            for d, a in reversed(em.attempts.values())
            if (app_id is None or d.app_id == app_id)
            and (status is None or hooks.outcome(a)[1] in ranges[status])
        ]


@router.post("/deliveries/drain")
def drain(
    dispatch: Dispatch, body: Annotated[dict[str, Any] | None, Body()] = None
) -> dict[str, Any]:
    """Wait until every background delivery queued so far (pushes caused by API calls,
    redeliveries asked for through the API) has been sent: ``{"timeout": S}`` (10)."""
    timeout = float((body or {}).get("timeout", 10))
    drained = dispatch.drain(timeout)
    if not drained:
        raise ApiError(504, f"deliveries still pending after {timeout} s")
    return {"pending": dispatch.pending()}


@router.get("/deliveries/{guid}")
def delivery(em: Em, guid: str) -> list[dict[str, Any]]:
    """Each App's copy of one delivery, with the exact JSON body that was sent."""
    with em.lock:
        group = em.deliveries.get(guid)
        if not group:
            raise not_found()
        return [{**hooks.describe(d), "payload": json.loads(d.body)} for d in group]


@router.post("/deliveries/{guid}/redeliver")
def redeliver(em: Em, guid: str) -> dict[str, Any]:
    """Send the same bytes again under the same delivery id (GitHub's "Redeliver")."""
    with em.lock:
        group = list(em.deliveries.get(guid) or [])
    if not group:
        raise not_found()
    for item in group:
        hooks.send(em, item, redelivery=True)
    return hooks.summary(group)


@router.post("/rate-limit")
def rate_limit(request: Request, body: JsonBody) -> dict[str, Any]:
    """Arm a switch: ``{"kind": "secondary"|"primary", "count": N, "retry_after": S}``, or
    enforce GitHub's content-creation limits: ``{"kind": "content", "per_minute": 80,
    "per_hour": 500}`` (``"enabled": false`` switches them off)."""
    kind = str(body.get("kind") or "secondary")
    limiter = get_limiter(request)
    try:
        if kind == "content":
            if body.get("enabled", True) is False:
                limiter.limit_content(None, None)
            else:
                limiter.limit_content(
                    int(body.get("per_minute") or 80), int(body.get("per_hour") or 500)
                )
        else:
            count, seconds = int(body.get("count", 1)), int(body.get("retry_after", 60))
            limiter.arm(kind, count, seconds)
    except (TypeError, ValueError) as exc:
        raise unprocessable(str(exc)) from None
    return limiter.pending()


@router.post("/outage")
def outage(request: Request, body: JsonBody) -> dict[str, Any]:
    """``{"seconds": S}`` or ``{"count": N}``, ``status`` (502): the API answers 5xx while
    webhooks still go out; ``{"seconds": 0}`` ends it (see ``outage.py``)."""
    switch = get_outage(request)
    try:
        seconds = float(body["seconds"]) if body.get("seconds") is not None else None
        count = int(body["count"]) if body.get("count") is not None else None
        switch.arm(seconds=seconds, count=count, status=int(body.get("status") or 502))
    except (TypeError, ValueError) as exc:
        raise unprocessable(str(exc)) from None
    return switch.state()


@router.post("/tokens/revoke")
def revoke_tokens(em: Em, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """Invalidate every installation token (``{"installation_id": N}``: that one's only),
    as a GitHub-side reset would: the next call with one answers 401 Bad credentials, and
    the App's JWT still mints new ones."""
    only = (body or {}).get("installation_id")
    with em.lock:
        doomed = [
            value
            for value, token in em.tokens.items()
            if only is None or token.installation_id == int(only)
        ]
        for value in doomed:
            del em.tokens[value]
    return {"revoked": len(doomed)}


@router.post("/settings")
def settings(em: Em, body: JsonBody) -> dict[str, Any]:
    """``{"sign_commits": bool}``: sign the App's commits (a fresh SHA each time), as GitHub
    may; off by default, so identical inputs give identical SHAs. ``{"deliver_own_events":
    bool}``: deliver the webhooks of the App's own comments, pull requests and check runs,
    as GitHub does (off by default; see ``own_events.py``)."""
    with em.lock:
        if "sign_commits" in body:
            em.sign_commits = bool(body["sign_commits"])
        if "deliver_own_events" in body:
            em.deliver_own_events = bool(body["deliver_own_events"])
        return {"sign_commits": em.sign_commits, "deliver_own_events": em.deliver_own_events}


@router.post("/clock")
def clock(em: Em, body: JsonBody) -> dict[str, Any]:
    """``{"offset_seconds": N}`` sets the clock's offset; ``{"advance_seconds": N}`` adds."""
    with em.lock:
        if body.get("offset_seconds") is not None:
            em.clock_offset = timedelta(seconds=float(body["offset_seconds"]))
        if body.get("advance_seconds") is not None:
            em.clock_offset += timedelta(seconds=float(body["advance_seconds"]))
        return {"now": utc(em.now()), "offset_seconds": em.clock_offset.total_seconds()}
