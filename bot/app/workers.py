"""Composition of a worker: which handler serves which phase, which outbox kinds exist.

This is the one place where ``bot`` meets ``webhooks`` and ``proposals`` (like bot/cli/main.py):
the foundation below never imports them.
"""

import os
import socket
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.app.runtime import Runtime
from bot.core.records import Phase
from bot.core.vocab import OutboxKind
from bot.worker.loop import Handler, WorkerLoop
from bot.worker.outbox import OutboxHandler, drain_outbox

# Outbox items one worker loop runs side by side: their GitHub calls overlap (a reaction is
# a round trip; at 50 commands a second one at a time falls behind), while GitHub's advice
# against many concurrent requests from one App (secondary rate limits) keeps it small.
OUTBOX_PARALLEL = 4


def build_handlers(runtime: Runtime) -> dict[Phase, Handler]:
    """RUN: snapshot, agent, proposal (bot/worker/runner.py). APPLY: proposals/interpreter.py."""
    from bot.worker.runner import run_job
    from proposals.interpreter import apply_job

    return {Phase.APPLY: apply_job, Phase.RUN: run_job}


def outbox_handlers() -> dict[str, OutboxHandler]:
    from proposals.job_report import handle_job_report
    from proposals.progress import STATUS_HANDLERS
    from webhooks.feedback import FEEDBACK_HANDLERS

    return {**FEEDBACK_HANDLERS, **STATUS_HANDLERS, OutboxKind.JOB_REPORT: handle_job_report}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def build_worker_loop(
    runtime: Runtime,
    *,
    worker_id: str | None = None,
    concurrency: int = 1,
    handlers: Mapping[Phase, Handler] | None = None,
    grace_seconds: float = 30.0,
    triage: bool = True,
) -> WorkerLoop:
    """A worker loop: its handlers, and its side tasks: with ``triage``, a triage pass, then
    the outbox drain (``serve`` turns triage off when its own triage thread runs: a worker
    loop busy deciding deliveries is not sending their reactions)."""
    from bot.worker.runner import run_budget_seconds
    from webhooks.background import triage_side_task

    owner = worker_id or default_worker_id()
    kinds = outbox_handlers()
    pool = ThreadPoolExecutor(OUTBOX_PARALLEL, thread_name_prefix="farcaster-outbox")
    return WorkerLoop(
        runtime,
        worker_id=owner,
        concurrency=concurrency,
        handlers=handlers or build_handlers(runtime),
        side_tasks=[
            # Deliveries intake stored (webhooks/triage.py): first, so the same round's drain
            # sends the 👀 reaction and the queued status edit before the round claims the job.
            *([triage_side_task(runtime, owner)] if triage else []),
            lambda: drain_outbox(runtime, owner, kinds, pool=pool),
        ],
        # A run attempt may last as long as the slowest configured agent and its verify.
        budget_seconds={Phase.RUN: run_budget_seconds(runtime.settings, runtime.agents.current())},
        grace_seconds=grace_seconds,
    )


@dataclass(frozen=True)
class BackgroundWorkers:
    """Worker loops running in threads of this process."""

    loops: list[WorkerLoop]
    threads: list[threading.Thread]
    stop_event: threading.Event

    def wake(self) -> None:
        """Cut their idle waits short: triage just queued work or feedback for them."""
        for loop in self.loops:
            loop.wake()

    def stop(self) -> None:
        """Ask them to stop and wait for them."""
        self.stop_event.set()
        for loop in self.loops:
            loop.wake()
        for thread in self.threads:
            thread.join(timeout=60)


def start_background_workers(
    runtime: Runtime, count: int, *, triage: bool = True
) -> BackgroundWorkers:
    """Run ``count`` worker loops in threads of this process (``farcaster serve --workers``;
    ``triage``: whether they triage deliveries too)."""
    stop = threading.Event()
    loops = [
        build_worker_loop(runtime, worker_id=f"{default_worker_id()}-{n}", triage=triage)
        for n in range(count)
    ]
    threads = [
        threading.Thread(
            target=loop.run_forever, args=(stop,), name=f"farcaster-worker-{n}", daemon=True
        )
        for n, loop in enumerate(loops)
    ]
    for thread in threads:
        thread.start()
    return BackgroundWorkers(loops, threads, stop)
