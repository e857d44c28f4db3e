"""Our job store's claim path against pgqueuer and procrastinate, side by side.

    python bench/claim.py [--quick] [--only drain|pause|sqlite] [--jobs N] [--cap SECONDS]

Three scenarios (bench/README.md explains each; notes/queues.md section 9.4 is the recipe):

* drain:  pre-loaded no-op jobs, 1x1, 1x10 and 2x10 runners (processes x concurrency) until
          all are done; jobs/s, commits per job, WAL bytes per job, and ours / peer ratios.
* pause:  a runner SIGSTOPped past its lease and resumed; completions accepted from it.
* sqlite: the drain on SQLite with 1 and 2 runner processes (ours only).

Same PostgreSQL server for everything (BENCH_PG, default postgresql://postgres@127.0.0.1:5432),
which must be durable (fsync and synchronous_commit on); a fresh database per run, created
and dropped here. The peers run from bench/.venv-peers, created on first use.
"""

import argparse
import datetime
import os
import platform
import sys
import time

import pgserver
import report
from drain import Cell, Outcome, drain
from pause import PauseOutcome, pause
from runners import RunnerFailed
from sqlite_drain import sqlite_drain
from systems import PGQUEUER, PROCRASTINATE, Ours, System, peers_python

DRAIN_CELLS = (Cell(1, 1), Cell(1, 10), Cell(2, 10))
SQLITE_CELLS = (Cell(1, 10), Cell(2, 10))
# Keeps the full run near ten minutes: the one-job-per-claim paths drain 30,000 jobs at a
# few hundred jobs/s. A capped run is marked and rated on the jobs it finished.
DEFAULT_CAP_SECONDS = 60.0
PEERS = (PGQUEUER.label, PROCRASTINATE.label)


def main() -> int:
    args = parse_args()
    cap = args.cap if args.cap > 0 else float("inf")
    jobs = args.jobs or (2_000 if args.quick else 30_000)
    sqlite_jobs = min(jobs, 1_000 if args.quick else 10_000)
    pause_jobs = 8 if args.quick else 20
    scenarios = [args.only] if args.only else ["drain", "pause", "sqlite"]
    started = time.monotonic()
    print(machine_line())
    facts = pgserver.server_facts()
    print(
        f"PostgreSQL {facts['version']}: "
        + ", ".join(f"{k}={facts[k]}" for k in pgserver.DURABILITY)
    )
    if facts["fsync"] != "on" or facts["synchronous_commit"] != "on":
        print("refusing to benchmark: the server must be durable (fsync, synchronous_commit on)")
        return 2
    if {"drain", "pause"} & set(scenarios):
        peers_python()

    drained: list[Outcome] = []
    if "drain" in scenarios:
        print(f"\n== drain: {jobs:,} no-op jobs per run, each run capped at {cap:g} s")
        drained = run_drain(jobs, cap)
        print(
            f"\nDrain: {jobs:,} no-op jobs; cell = processes x concurrency;"
            f" ours/pgq = ours / {PGQUEUER.label}, ours/proc = ours / {PROCRASTINATE.label}"
        )
        print(report.drain_table(drained, PEERS))
        if any(o.noise_commits > report.NOISE_COMMITS for o in drained):
            print("* other databases were busy during this run: the WAL figure includes theirs")
    if "pause" in scenarios:
        print(f"\n== pause: {pause_jobs} jobs of 2 s, 2 runners x 2 slots, lease 6 s")
        paused = run_pause(pause_jobs)
        print("\nPause: runner A SIGSTOPped holding jobs, resumed once B re-picked one")
        print(report.pause_table(paused))
    if "sqlite" in scenarios:
        print(f"\n== sqlite: {sqlite_jobs:,} no-op jobs per run")
        on_sqlite = run_sqlite(sqlite_jobs, cap)
        print(f"\nSQLite drain: {sqlite_jobs:,} no-op jobs (WAL, synchronous=NORMAL)")
        print(report.sqlite_table(on_sqlite, drained))
    print(f"\n{machine_line()}; total {time.monotonic() - started:.0f} s")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--only", choices=["drain", "pause", "sqlite"])
    parser.add_argument("--jobs", type=int, help="jobs per drain run (default 30,000)")
    parser.add_argument(
        "--cap",
        type=float,
        default=DEFAULT_CAP_SECONDS,
        help="stop a drain run after this many seconds and rate the jobs it finished"
        f" (default {DEFAULT_CAP_SECONDS:g}; 0: never)",
    )
    return parser.parse_args()


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return (
        f"{now} | {platform.node()} | nproc {os.cpu_count()} | Python {platform.python_version()}"
        f" | load average {load}"
    )


def run_drain(jobs: int, cap: float) -> list[Outcome]:
    outcomes = []
    for cell in DRAIN_CELLS:
        systems: list[System] = [Ours(loop=True), Ours()]
        systems += [PGQUEUER, PROCRASTINATE]
        for system in systems:
            outcome = drain(system, cell, jobs, cap)
            outcomes.append(outcome)
            print(progress(outcome), flush=True)
    return outcomes


def run_pause(jobs: int) -> list[PauseOutcome]:
    outcomes = []
    for system in (Ours(loop=True), PGQUEUER, PROCRASTINATE):
        outcome = pause(system, jobs, sleep=2.0, bound=40.0)
        outcomes.append(outcome)
        print(
            f"  {outcome.system}: held {outcome.held}, re-picked {outcome.repicked},"
            f" stale completions accepted {outcome.stale_accepted} ({outcome.seconds:.1f} s)",
            flush=True,
        )
    return outcomes


def run_sqlite(jobs: int, cap: float) -> list[Outcome]:
    outcomes = []
    for cell in SQLITE_CELLS:
        for system in (Ours(loop=True), Ours()):
            outcome = sqlite_drain(system, cell, jobs, cap)
            outcomes.append(outcome)
            print(progress(outcome), flush=True)
    return outcomes


def progress(outcome: Outcome) -> str:
    capped = " (capped)" if outcome.capped else ""
    return (
        f"  {outcome.cell.label} {outcome.system}: {outcome.jobs:,} jobs in"
        f" {outcome.seconds:.1f} s = {outcome.jobs_per_second:,.0f} jobs/s{capped}"
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RunnerFailed as failure:
        print(f"benchmark failed: {failure}", file=sys.stderr)
        sys.exit(1)
