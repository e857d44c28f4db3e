"""The emulator's ASGI application: GitHub's REST subset under ``/api/v3``, codeload under
``/codeload``, the manifest page under ``/settings``, the admin API under ``/_emulator``.
"""

from fastapi import FastAPI

from bot.emulator import (
    admin,
    admin_history,
    admin_observe,
    admin_review,
    api_apps,
    api_checks,
    api_git,
    api_hooks,
    api_issues,
    api_review,
    api_triage,
    codeload,
    web,
)
from bot.emulator.dispatch import Dispatcher
from bot.emulator.errors import install_handlers
from bot.emulator.journal import Journal, JournalMiddleware
from bot.emulator.outage import Outage, OutageMiddleware
from bot.emulator.ratelimit import RateLimiter
from bot.emulator.render import API_PREFIX
from bot.emulator.state import Emulator, EmulatorConfig


def create_app(config: EmulatorConfig) -> FastAPI:
    """A fresh emulator with empty state; repositories go under ``config.data_dir``."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(config)
    limiter = RateLimiter(emulator.now)
    journal = Journal()
    app = FastAPI(
        title="Farcaster GitHub emulator", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.emulator = emulator
    app.state.limiter = limiter
    app.state.journal = journal
    app.state.dispatcher = Dispatcher(emulator)
    app.state.outage = outage = Outage()
    for router in (
        api_apps.router,
        api_hooks.router,
        api_git.router,
        api_issues.router,
        api_triage.router,
        api_review.router,
        api_checks.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(codeload.router)
    app.include_router(web.router)
    app.include_router(admin.router)
    app.include_router(admin_observe.router)
    app.include_router(admin_review.router)
    app.include_router(admin_history.router)
    install_handlers(app)
    app.add_middleware(OutageMiddleware, outage=outage)
    # Added last, so outermost: the journal also records the outage's refusals.
    app.add_middleware(JournalMiddleware, journal=journal, limiter=limiter, clock=emulator.now)
    return app
