"""Pause: a runner frozen past its lease comes back and finishes work someone else now holds.

Two runners (A and B) with two slots each drain jobs that take ``sleep`` seconds, with the
liveness settings of notes/queues.md 9.4 (3): a 6 s lease or heartbeat timeout. Steps,
each bounded in time:

1. Start both; once A's bodies are running, SIGSTOP A. The jobs A holds are "held".
2. Wait until B starts one of the held jobs (the system gave it away), then SIGCONT A.
   A's bodies wake up past their deadline and A tries to finish them: the stale holder.
3. Wait until every job has ended and both runners finished their copies of the held
   jobs, then SIGTERM both.

Who finished a job is read from the database, not from the runners: an audit trigger in
the benchmark's database records the connection (``application_name``) of every
terminal write. A "stale completion accepted" is a terminal write from A on a held job
that B had already started.
"""

import signal
import time
from dataclasses import dataclass

import pgserver
from runners import start_all
from systems import Ours, System


@dataclass(frozen=True)
class PauseOutcome:
    system: str
    jobs: int
    held: list[str]  # jobs A held when it was stopped
    repicked: list[str]  # held jobs that B started while A was stopped
    ran_twice: int  # held jobs whose body ran to the end in both runners
    stale_accepted: int  # terminal writes from A on re-picked jobs
    new_holder_lost: int  # re-picked jobs B finished but whose terminal write is not B's
    refused: int  # ours: fenced_write_rejected events for A's completions
    ended: int  # jobs the database counts as finished
    seconds: float
    note: str


def pause(system: System, jobs: int, sleep: float, bound: float) -> PauseOutcome:
    started = time.monotonic()
    with pgserver.fresh_database(system.name) as db:
        system.install(db)
        system.load(db, jobs, sleep=sleep)
        pgserver.execute(db, *system.audit)
        a = system.pause_runner(db, "bench-A", sleep)
        b = system.pause_runner(db, "bench-B", sleep)
        note = ""
        try:
            start_all([a, b])
            a.wait_until(lambda: len(a.started) >= 2, timeout=min(bound, 10.0))
            a.signal(signal.SIGSTOP)
            held = sorted(a.in_flight())
            if not b.wait_until(lambda: bool(held and set(held) & set(b.started)), bound):
                note = f"B did not start a held job within {bound:.0f} s"
            a.signal(signal.SIGCONT)
            everything_ended = _wait_ended(system, db, jobs, bound)
            a.wait_until(lambda: set(held) <= set(a.finished), timeout=bound)
            repicked = sorted(set(held) & set(b.started))
            b.wait_until(lambda: set(repicked) <= set(b.finished), timeout=bound)
            if not everything_ended:
                note = note or f"not every job ended within {bound:.0f} s"
            for runner in (a, b):
                runner.signal(signal.SIGTERM)
            for runner in (a, b):
                runner.finish(timeout=30)
        finally:
            for runner in (a, b):
                runner.signal(signal.SIGCONT)
                runner.kill()
        audit = _audit(db)
        ended = pgserver.scalar(db, system.done_query)
        refused = (
            pgserver.scalar(
                db,
                "SELECT count(*) FROM job_events WHERE kind = 'fenced_write_rejected'"
                " AND data ->> 'step' = 'complete'",
            )
            if isinstance(system, Ours)
            else 0
        )
    ran_twice = len([j for j in held if j in a.finished and j in b.finished])
    stale_accepted = len([j for j in repicked if "bench-A" in audit.get(j, [])])
    new_holder_lost = len(
        [j for j in repicked if j in b.finished and "bench-B" not in audit.get(j, [])]
    )
    return PauseOutcome(
        system=system.label,
        jobs=jobs,
        held=held,
        repicked=repicked,
        ran_twice=ran_twice,
        stale_accepted=stale_accepted,
        new_holder_lost=new_holder_lost,
        refused=refused,
        ended=ended,
        seconds=time.monotonic() - started,
        note=note or _describe(refused, stale_accepted, new_holder_lost),
    )


def _wait_ended(system: System, db: str, jobs: int, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if pgserver.scalar(db, system.done_query) >= jobs:
            return True
        time.sleep(0.2)
    return False


def _audit(db: str) -> dict[str, list[str]]:
    """Job key -> the runners whose terminal write the database accepted, in order."""
    import psycopg

    with psycopg.connect(pgserver.dsn(db)) as conn:
        rows = conn.execute("SELECT job, app FROM bench_audit ORDER BY at").fetchall()
    audit: dict[str, list[str]] = {}
    for job, app in rows:
        audit.setdefault(job, []).append(app)
    return audit


def _describe(refused: int, stale: int, lost: int) -> str:
    parts = []
    if refused:
        parts.append(f"A's {refused} late completion(s) refused (stale token)")
    if stale:
        parts.append(f"A's {stale} late completion(s) accepted")
    if lost:
        parts.append(f"B's {lost} then found the job ended")
    return "; ".join(parts)
