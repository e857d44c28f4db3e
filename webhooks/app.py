"""The FastAPI app GitHub talks to: composition only (see intake, inbox, triage, handlers)."""

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI

from bot.app.runtime import Runtime
from webhooks.context import Context
from webhooks.handlers import build_router
from webhooks.health import health_routes
from webhooks.inbox import Inbox
from webhooks.intake import webhook_routes
from webhooks.metrics import IntakeMetrics
from webhooks.permissions import PermissionCache


def build_context(
    runtime: Runtime,
    *,
    clock: Callable[[], float] = time.monotonic,
    permissions: PermissionCache | None = None,
) -> Context:
    """What the handlers see; ``clock`` drives the permission cache (tests inject it)."""
    return Context(
        settings=runtime.settings,
        store=runtime.store,
        github=runtime.github,
        agents=runtime.agents,
        permissions=permissions
        or PermissionCache(runtime.settings.permission_cache_seconds, clock=clock),
        deliveries=runtime.deliveries,
    )


def create_app(
    runtime: Runtime,
    *,
    clock: Callable[[], float] = time.monotonic,
    permissions: PermissionCache | None = None,
) -> FastAPI:
    """Build the app. ``app.state.wake`` is set whenever a delivery waits for triage
    (``farcaster serve`` runs the triage loop on it: webhooks/background.py).

    Raises ConfigurationError at once when the webhook secret is not set.
    """
    secret = runtime.settings.require_webhook_secret()
    router = build_router()
    context = build_context(runtime, clock=clock, permissions=permissions)
    wake = threading.Event()
    metrics = IntakeMetrics(runtime.metrics, router.events, runtime.deliveries)
    app = FastAPI(title="Farcaster", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(
        webhook_routes(Inbox(context, router, on_undecided=wake.set), secret, metrics)
    )
    app.include_router(health_routes(runtime, metrics))
    app.state.context = context
    app.state.router = router
    app.state.metrics = metrics
    app.state.wake = wake
    return app
