"""The FastAPI app GitHub talks to: composition only (see intake, inbox, handlers)."""

import time
from collections.abc import Callable

from fastapi import FastAPI

from bot.app.runtime import Runtime
from bot.store.deliveries import Deliveries
from webhooks.context import Context
from webhooks.handlers import build_router
from webhooks.health import health_routes
from webhooks.inbox import Inbox
from webhooks.intake import webhook_routes
from webhooks.metrics import IntakeMetrics
from webhooks.permissions import PermissionCache


def create_app(
    runtime: Runtime,
    *,
    clock: Callable[[], float] = time.monotonic,
    permissions: PermissionCache | None = None,
) -> FastAPI:
    """Build the app. ``clock`` drives the permission cache (tests inject it).

    Raises ConfigurationError at once when the webhook secret is not set.
    """
    secret = runtime.settings.require_webhook_secret()
    router = build_router()
    context = Context(
        settings=runtime.settings,
        store=runtime.store,
        github=runtime.github,
        agents=runtime.agents,
        permissions=permissions
        or PermissionCache(runtime.settings.permission_cache_seconds, clock=clock),
        deliveries=Deliveries(runtime.db, runtime.store, runtime.outbox),
    )
    metrics = IntakeMetrics(runtime.metrics, router.events)
    app = FastAPI(title="Farcaster", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(webhook_routes(Inbox(context, router), secret, metrics))
    app.include_router(health_routes(runtime, metrics))
    app.state.context = context
    app.state.metrics = metrics
    return app
