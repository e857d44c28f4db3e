"""Probes: ``/healthz`` (the process answers), ``/readyz`` (the store can serve), ``/metrics``.

``/readyz`` is ready when the database is reachable, at the newest migration, and accepts a
write (a row written and rolled back: a read-only SQLite file or a standby is not ready);
otherwise 503 with a one-line reason (never the database URL: it may hold a password). A
connection the server had closed (PostgreSQL restarted) is replaced and the check run again
once, so a dead pool never makes the probe, or the first delivery after it, fail.
"""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bot.app.runtime import Runtime
from bot.core.errors import StoreError
from bot.store.database import once_more_if_lost
from webhooks.metrics import IntakeMetrics

log = logging.getLogger(__name__)


def readiness(runtime: Runtime) -> tuple[bool, str]:
    try:
        current = once_more_if_lost(runtime.store.is_migrated)
    except StoreError as exc:  # StoreUnavailable: the driver's error, translated by the store
        log.warning("readiness check failed: %s", exc.message)
        return False, f"the database cannot be reached ({exc.reason_code})"
    if not current:
        return False, "the database is not at the newest migration; run `farcaster db upgrade`"
    try:
        runtime.deliveries.check_writable()
    except StoreError as exc:
        log.warning("readiness check failed: %s", exc.message)
        return False, f"the database refuses writes ({exc.message})"
    return True, "the database is reachable, migrated and accepts writes"


def health_routes(runtime: Runtime, metrics: IntakeMetrics) -> APIRouter:
    router = APIRouter()

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:  # sync: FastAPI runs it in a worker thread
        ready, reason = readiness(runtime)
        body = {"status": "ready" if ready else "not ready", "reason": reason}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router
