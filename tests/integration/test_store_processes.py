"""The store under real processes: many workers, a SIGKILLed one, a SIGSTOPped one.

Each test runs on SQLite and PostgreSQL. Waiting is on conditions read from the store
(with a deadline), never a fixed sleep.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.records import JobState, NewJob
from bot.store import Database, Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def spawn(url: str, worker_id: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.store_worker", url, worker_id, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def seed(store: Store, count: int, hold: float = 0.0) -> None:
    with store.db.transaction() as conn:
        for n in range(count):
            store.enqueue_in(
                conn,
                NewJob(
                    id=f"j{n:05d}",
                    idempotency_key=f"k{n}",
                    repo="o/r",
                    agent="t",
                    command={"hold": hold},
                ),
            )


def test_eight_workers_drain_two_thousand_jobs_exactly_once(db_url: str) -> None:
    store = Store(Database.from_url(db_url))
    seed(store, 2000)
    workers = [spawn(db_url, f"w{i}", "--limit", "5", "--exit-when-empty") for i in range(8)]
    for worker in workers:
        out, _ = worker.communicate(timeout=180)
        assert worker.returncode == 0, out
    assert store.operator_counts([]).jobs_by_state == {"done": 2000}
    with store.db.engine.connect() as conn:
        raw = conn.execute(text("SELECT job_id, kind, at, data FROM job_events ORDER BY id")).all()
    rows = [(j, k, at, d if isinstance(d, dict) else json.loads(d)) for j, k, at, d in raw]
    completed = Counter(job for job, kind, _, _ in rows if kind == "completed")
    assert len(completed) == 2000 and set(completed.values()) == {1}
    # No job was ever held by two unexpired leases: every claim of a job that had an owner
    # happened after that owner's lease had expired.
    for job_id, kind, at, data in rows:
        if kind == "claimed" and data["previous_owner"] is not None:
            assert data["previous_lease_expires_at"] < at, job_id
    owners = {data["owner"] for _, kind, _, data in rows if kind == "claimed"}
    assert len(owners) > 1  # the work really was shared


def test_a_sigkilled_worker_loses_its_job_to_another_after_the_lease(db_url: str) -> None:
    store = Store(Database.from_url(db_url), lease_seconds=1.5)
    seed(store, 1, hold=60.0)
    victim = spawn(db_url, "victim", "--lease", "1.5")
    wait_for(lambda: store.get("j00000").state is JobState.RUNNING, what="the victim's claim")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    # The victim would have held the job for 60 s; the successor need not.
    with store.db.transaction() as conn:
        conn.execute(text("UPDATE jobs SET command = :c WHERE id = 'j00000'"), {"c": '{"hold": 0}'})
    successor = spawn(db_url, "successor", "--lease", "1.5", "--exit-when-empty")
    out, _ = successor.communicate(timeout=60)
    job = store.get("j00000")
    assert job.state is JobState.DONE and job.attempts == 1, out  # the lost lease
    trail = [(e.kind, e.data.get("owner")) for e in store.events("j00000")]
    assert trail == [
        ("created", None),
        ("claimed", "victim"),
        ("lease_expired", "victim"),
        ("claimed", "successor"),
        ("completed", None),
    ]


def test_a_paused_worker_cannot_overwrite_its_successor(db_url: str) -> None:
    store = Store(Database.from_url(db_url), lease_seconds=1.0)
    seed(store, 1, hold=2.0)
    paused = spawn(db_url, "paused", "--lease", "1.0", "--no-heartbeat", "--ignore-lease-loss")
    wait_for(lambda: store.get("j00000").state is JobState.RUNNING, what="the first claim")
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        successor = spawn(db_url, "successor", "--lease", "1.0", "--exit-when-empty")
        out, _ = successor.communicate(timeout=60)
        assert store.get("j00000").state is JobState.DONE, out
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    wait_for(
        lambda: sum(e.kind == "fenced_write_rejected" for e in store.events("j00000")) == 2,
        what="the paused worker's late writes",
    )
    paused.kill()
    out, _ = paused.communicate()
    assert "refused proposal j00000" in out and "refused completion j00000" in out
    events = store.events("j00000")
    assert [e.data["owner"] for e in events if e.kind == "claimed"] == ["paused", "successor"]
    assert sum(e.kind == "completed" for e in events) == 1
    completed = next(e for e in events if e.kind == "completed")
    assert completed.fencing_token == 2
    assert store.proposals("j00000") == []
    assert {e.data["step"] for e in events if e.kind == "fenced_write_rejected"} == {
        "store_proposal",
        "complete",
    }
