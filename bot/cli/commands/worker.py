"""`farcaster worker`: one runner process (claims jobs, runs agents, stores proposals).

It refuses to start (one sentence, exit 2) when bubblewrap cannot make a sandbox here,
unless FARCASTER_SANDBOX=off (unsafe, development only; it logs a warning).

SIGTERM or SIGINT stops it gracefully: it claims nothing more, lets running jobs finish
for ``--grace-seconds``, then exits; a second signal exits at once. Leases it still held
expire and another worker takes the jobs over.

The agents file is read once, at start (a bad one exits 2 with one sentence). SIGHUP, or a
change of the file on disk, reloads it at the next job; a bad reload keeps the old agents.
"""

import logging
import os
import signal
import threading
from types import FrameType
from typing import Annotated, Literal

import typer

from bot.agents.registry import LiveRegistry, warn_about_host_network
from bot.app.runtime import Runtime
from bot.core.settings import get_settings
from bot.observe.logs import configure_logging
from bot.observe.metrics import serve_metrics
from bot.sandbox.startup import sandbox_for
from bot.worker.loop import WorkerLoop
from bot.worker.runner import sweep_abandoned_scratch

log = logging.getLogger("farcaster.worker")


def install_stop_signals(stop: threading.Event, loop: WorkerLoop) -> None:
    """The first SIGTERM/SIGINT asks for a graceful stop; the second one exits at once.

    Handlers run in the main thread, which does nothing but wait (see :func:`run_until_done`),
    so they never interrupt it halfway through a log write or while it holds a lock.
    """

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now")
            os._exit(128 + signum)
        log.info("%s: finishing running jobs, claiming no more", signal.Signals(signum).name)
        stop.set()
        loop.wake()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def install_reload_signal(agents: LiveRegistry) -> None:
    """SIGHUP re-reads the agents file at the next use; a bad file keeps the old agents."""
    signal.signal(signal.SIGHUP, lambda _signum, _frame: agents.request_reload())


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 1,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in leases and events (default: host:pid:random).")
    ] = None,
    log_format: Annotated[
        Literal["json", "console"], typer.Option(help="Log lines as json or console.")
    ] = "console",
    grace_seconds: Annotated[
        float, typer.Option(min=0, help="How long running jobs may finish on shutdown.")
    ] = 30.0,
    metrics_port: Annotated[
        int | None, typer.Option(min=0, help="Serve Prometheus /metrics on this port.")
    ] = None,
) -> None:
    """Run jobs: snapshot, agent, diff, proposal; apply proposals; drain the outbox."""
    from bot.app.workers import build_worker_loop

    configure_logging(log_format)
    settings = get_settings()
    settings.require_github_app()
    # Fail closed: without a usable bwrap the worker does not start (one sentence, exit 2).
    sandbox_for(settings)
    runtime = Runtime.from_settings(settings)  # a bad agents file stops the worker here
    try:
        install_reload_signal(runtime.agents)
        warn_about_host_network(runtime.agents.current())
        if metrics_port is not None:
            server = serve_metrics(metrics_port, runtime.metrics)
            log.info("metrics on port %d", server.server_port)
        for path in sweep_abandoned_scratch(settings):
            log.info("removed the scratch folder of a dead runner: %s", path)
        loop = build_worker_loop(
            runtime, worker_id=worker_id, concurrency=concurrency, grace_seconds=grace_seconds
        )
        stop = threading.Event()
        install_stop_signals(stop, loop)
        run_until_done(loop, stop)
    finally:
        runtime.close()


def run_until_done(loop: WorkerLoop, stop: threading.Event) -> None:
    """Run the loop in a thread and keep the main thread free for signal handlers."""
    thread = threading.Thread(target=loop.run_forever, args=(stop,), name="worker-loop")
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
