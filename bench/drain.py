"""Drain: pre-load no-op jobs in bulk, start the runners together, time until all are done.

One fresh database per run. Before the start signal the loaded tables are vacuumed and
analyzed and the server checkpoints, so every system starts from the same state. The
clock runs from the earliest runner start to the latest runner exit; the counters are
read before the start signal and after the runners' backends are gone. A run that
passes its time cap is stopped (SIGTERM) and reported with the jobs it finished.
"""

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pgserver
from runners import Runner, RunnerFailed, start_all
from systems import System


@dataclass(frozen=True)
class Cell:
    processes: int
    concurrency: int

    @property
    def label(self) -> str:
        return f"{self.processes}x{self.concurrency}"


@dataclass(frozen=True)
class Outcome:
    system: str
    cell: Cell
    jobs: int  # finished, as the database counts them
    seconds: float
    commits: int
    wal_bytes: int
    noise_commits: int  # transactions in other databases meanwhile
    capped: bool
    cpu_seconds: float = 0.0  # the runner processes' CPU time (the client side)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds > 0 else 0.0

    @property
    def commits_per_job(self) -> float:
        return self.commits / self.jobs if self.jobs else 0.0

    @property
    def wal_per_job(self) -> float:
        return self.wal_bytes / self.jobs if self.jobs else 0.0

    @property
    def cpu_us_per_job(self) -> float:
        return self.cpu_seconds / self.jobs * 1e6 if self.jobs else 0.0


def drain(system: System, cell: Cell, jobs: int, cap_seconds: float) -> Outcome:
    with pgserver.fresh_database(system.name) as db:
        system.install(db)
        system.load(db, jobs)
        pgserver.settle(db)
        runners = [
            system.drain_runner(db, f"{system.name}-{n}", cell.concurrency)
            for n in range(cell.processes)
        ]
        before: list[pgserver.Counters] = []
        results, capped = run_to_the_end(
            runners,
            cap_seconds,
            when_ready=lambda: before.append(pgserver.counters(db, wait_for_disconnect=0)),
        )
        after = pgserver.counters(db)
        done = pgserver.scalar(db, system.done_query)
    if not capped and done != jobs:
        raise RunnerFailed(f"{system.label} {cell.label}: {done} of {jobs} jobs finished")
    return Outcome(
        system=system.label,
        cell=cell,
        jobs=done,
        seconds=max(r["finished"] for r in results) - min(r["started"] for r in results),
        commits=after.commits - before[0].commits,
        wal_bytes=after.wal - before[0].wal,
        noise_commits=after.others - before[0].others,
        capped=capped,
        cpu_seconds=sum(r["cpu"] for r in results),
    )


def run_to_the_end(
    runners: list[Runner],
    cap_seconds: float,
    *,
    when_ready: Callable[[], object] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Start the runners together and wait for them to drain the queue; past the cap, stop
    them with SIGTERM (each finishes the jobs it holds). Returns their results and whether
    the cap stopped them."""
    try:
        start_all(runners, when_ready=when_ready)
        deadline = time.monotonic() + cap_seconds
        capped = False
        for runner in runners:
            left = max(deadline - time.monotonic(), 0.0)
            if not runner.wait_until(lambda r=runner: r.proc.poll() is not None, left):
                capped = True
                break
        if capped:
            for runner in runners:
                runner.signal(signal.SIGTERM)
        return [runner.finish(timeout=60) for runner in runners], capped
    finally:
        for runner in runners:
            runner.kill()
