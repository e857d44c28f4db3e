"""Drain on SQLite, the embedded default: our store only (the peers need PostgreSQL).

A fresh database file per run (WAL, ``synchronous=NORMAL``, ``BEGIN IMMEDIATE`` for every
transaction, as bot/store/dialect.py configures it), loaded in bulk, then 1 or 2 runner processes.
"""

import contextlib
import sqlite3
import tempfile
from pathlib import Path

from drain import Cell, Outcome, run_to_the_end
from runners import RunnerFailed
from systems import Ours


def sqlite_drain(system: Ours, cell: Cell, jobs: int, cap_seconds: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as directory:
        path = Path(directory) / "farcaster.db"
        url = f"sqlite:///{path}"
        system.install(url)
        system.load(url, jobs)
        runners = [
            system.drain_runner(url, f"sqlite-{n}", cell.concurrency) for n in range(cell.processes)
        ]
        results, capped = run_to_the_end(runners, cap_seconds)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            done = conn.execute("SELECT count(*) FROM jobs WHERE state = 'done'").fetchone()[0]
    if not capped and done != jobs:
        raise RunnerFailed(f"SQLite {cell.label}: {done} of {jobs} jobs finished")
    return Outcome(
        system=system.label,
        cell=cell,
        jobs=done,
        seconds=max(r["finished"] for r in results) - min(r["started"] for r in results),
        commits=0,
        wal_bytes=0,
        noise_commits=0,
        capped=capped,
        cpu_seconds=sum(r["cpu"] for r in results),
    )
