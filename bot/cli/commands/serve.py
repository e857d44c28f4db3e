"""`farcaster serve`: the webhook server, optionally with runners in the same process.

One process for the embedded setup (SQLite, ``--workers N``); any number of stateless
replicas behind a load balancer on PostgreSQL (``--workers 0``, runners elsewhere).
Intake stores each delivery and answers; the triage loop, a thread of this process unless
``--no-triage``, decides them (webhooks/triage.py), and recovers deliveries GitHub failed to
hand over (webhooks/recovery.py). ``farcaster worker`` triages too.
The agents file is read at start and on SIGHUP, as for ``farcaster worker``.
"""

from collections.abc import Callable
from typing import Annotated, Literal

import typer

from bot.app.runtime import Runtime
from bot.core.settings import get_settings

# --log-format name -> bot.observe.logs format
LOG_FORMATS: dict[str, Literal["console", "json"]] = {
    "console": "console",
    "text": "console",  # an alias kept for the first scripts that used it
    "json": "json",
}


def _no_workers() -> None:
    """``serve --workers 0``: no worker loop here to wake."""


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Runner threads in this process (0: run `farcaster worker` elsewhere).",
        ),
    ] = 0,
    log_format: Annotated[
        str, typer.Option("--log-format", help="Log lines as 'json' or 'console'.")
    ] = "console",
    triage: Annotated[
        bool,
        typer.Option(
            "--triage/--no-triage",
            help="Decide stored deliveries in a thread of this process (without it, "
            "its --workers triage; `farcaster worker` always does).",
        ),
    ] = True,
) -> None:
    """Serve the GitHub webhook endpoint, /healthz, /readyz and /metrics."""
    import uvicorn

    from bot.app.heap import freeze_startup_objects
    from bot.cli.commands.worker import install_reload_signal
    from bot.observe.logs import configure_logging
    from webhooks.app import create_app

    if log_format not in LOG_FORMATS:
        raise typer.BadParameter(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
    settings = get_settings()
    settings.require_github_app()
    configure_logging(LOG_FORMATS[log_format])
    if workers > 0:  # fail closed: runners here need a usable bwrap (or SANDBOX=off)
        from bot.sandbox.startup import sandbox_for
        from bot.worker.runner import sweep_abandoned_scratch

        sandbox_for(settings)
        sweep_abandoned_scratch(settings)  # and end what dead runners' agents left running
    runtime = Runtime.from_settings(settings)  # a bad agents file stops the server here
    install_reload_signal(runtime.agents)
    if workers > 0:
        from bot.agents.registry import warn_about_host_network

        warn_about_host_network(runtime.agents.current())
    stop_workers: Callable[[], None] | None = None
    stop_triage: Callable[[], None] | None = None
    try:
        app = create_app(runtime)  # refuses to start without a webhook secret
        wake_workers = _no_workers
        if workers > 0:
            from bot.app.workers import start_background_workers

            # The triage thread below decides deliveries; the loops only when there is none.
            started = start_background_workers(runtime, count=workers, triage=not triage)
            stop_workers, wake_workers = started.stop, started.wake
        if triage:
            from webhooks.background import start_background

            # A decided delivery's job and feedback go to this process's workers at once,
            # not after their idle wait (up to a second): the status comment's first second.
            stop_triage = start_background(
                runtime, app.state.context, app.state.router, app.state.wake, decided=wake_workers
            )
        freeze_startup_objects()  # a full GC pass would otherwise stall answers (bot/app/heap.py)
        # log_config=None: uvicorn's records go through our handler (redacted, one format).
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=True)
    finally:
        if stop_triage is not None:
            stop_triage()
        if stop_workers is not None:
            stop_workers()
        runtime.close()
