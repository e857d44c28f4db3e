"""The FastAPI app GitHub talks to: composition only (see intake, inbox, triage, handlers)."""

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app.runtime import Runtime
from webhooks.context import Context
from webhooks.handlers import build_router
from webhooks.health import health_routes
from webhooks.inbox import Inbox
from webhooks.intake import PATH, webhook_endpoint, webhook_routes
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


class _App(FastAPI):
    """FastAPI, except that a ``POST`` to :data:`~webhooks.intake.PATH` (no ``root_path``)
    goes straight to intake's endpoint, which answers every request itself, errors included
    (webhooks/intake.py): FastAPI's middleware stack (its error and exception middleware and
    exit stack; the app adds none) and its router's matching cost 15-35 us a delivery, about
    a tenth of intake's own work. Everything else, that route under a ``root_path``
    included, goes through FastAPI, where the same endpoint is routed as before."""

    webhook: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.webhook is not None
            and scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self.webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


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
    app = _App(title="Farcaster", docs_url=None, redoc_url=None, openapi_url=None)
    app.webhook = webhook_endpoint(Inbox(context, router, on_undecided=wake.set), secret, metrics)
    app.include_router(webhook_routes(app.webhook))
    app.include_router(health_routes(runtime, metrics))
    app.state.context = context
    app.state.router = router
    app.state.metrics = metrics
    app.state.wake = wake
    return app
