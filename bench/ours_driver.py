"""Our job store under bench/claim.py: a small runner with slots (project interpreter).

    install --url URL                      the schema, by our Alembic migrations
    load --url URL --jobs N [--sleep S]    N jobs in one transaction (job rows + created events)
    run --url URL --name NAME ...          one runner process (see bench/peers/protocol.py)

The runner has ``--concurrency`` slots. Two ways to fill them:

* ``--claim 1``: each slot is a thread that claims one job (``Store.claim(limit=1)``),
  runs it and ends it with ``Store.complete``, then claims the next: the plain API, with as
  many connections as slots.
* ``--loop``: the worker's own path. ``bot.app.workers.build_worker_loop`` builds the
  :class:`~bot.worker.loop.WorkerLoop` that ``farcaster worker`` runs (its claim policy,
  its handler threads, lease guards and lease keeper, the outbox side task, the reaper),
  with a handler that ends each job as the interpreter does, with ``guard.complete``: the
  loop writes its handlers' completions together, one fenced statement per round. With
  ``--drain`` it stops once no job is queued and its own handlers are done.

``--sleep S`` jobs hold their lease for S seconds (under a bot.worker.leases.LeaseKeeper, every
``--heartbeat`` seconds, with ``--claim 1``; the loop beats every third of ``--lease``).
Whatever the heartbeat says, the body then tries to complete: this runner plays the paused
holder that never noticed, so that the fencing token, not the runner's good manners, is
what the pause scenario measures.
"""

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from protocol import ready_and_wait, result, trace
from sqlalchemy import insert

from bot.app.runtime import Runtime
from bot.app.workers import build_worker_loop
from bot.core.errors import StaleFencingToken
from bot.core.records import JobState, Lease, Phase
from bot.core.settings import Settings
from bot.store import Database, Store
from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from bot.store.tables import EVENTS, JOBS
from bot.worker.leases import LeaseGuard, LeaseKeeper
from bot.worker.loop import WorkerLoop
from bot.worker.services import Services

IDLE_POLL_SECONDS = 0.05
DRAIN_POLL_SECONDS = 0.25


def job_key(n: int) -> str:
    return f"p{n:05d}"


def load(url: str, jobs: int, sleep: float) -> None:
    """Insert ``jobs`` queued jobs the way ``Store.enqueue`` writes them, in one transaction.

    A bulk insert instead of 30,000 ``enqueue_in`` calls (which take about a minute here):
    the same job row and ``created`` event per job, and distinct ``run_after`` times, as
    successive enqueues read from the database clock would give.
    """
    db = Database.from_url(url)
    command = {"name": "sleep", "seconds": sleep} if sleep else {"name": "noop"}
    with db.transaction() as conn:
        now = db.now(conn)
        rows = [
            {
                "id": job_key(n),
                "idempotency_key": f"bench:{n}",
                "repo": "bench/noop",
                "installation_id": None,
                "issue_number": None,
                "is_pull_request": False,
                "requester": None,
                "command": command,
                "agent": "noop",
                "mode": "pr",
                "base_ref": None,
                "base_sha": None,
                "state": JobState.QUEUED.value,
                "attempts": 0,
                "max_attempts": 5,
                "run_after": now + n * 1e-6,
                "fencing_token": 0,
                "created_at": now + n * 1e-6,
                "updated_at": now + n * 1e-6,
            }
            for n in range(jobs)
        ]
        conn.execute(insert(JOBS), rows)
        created = {"repo": "bench/noop", "agent": "noop", "mode": "pr", "requester": None}
        events = [
            {
                "job_id": r["id"],
                "at": r["created_at"],
                "kind": "created",
                "attempt": 0,
                "fencing_token": 0,
                "data": {**created, "base_ref": None, "base_sha": None},
            }
            for r in rows
        ]
        conn.execute(insert(EVENTS), events)
    db.dispose()


class Runner:
    def __init__(self, store: Store, args: argparse.Namespace) -> None:
        self.store = store
        self.name = args.name
        self.slots = args.concurrency
        self.sleep = args.sleep
        self.keeper = LeaseKeeper(store, period=args.heartbeat)
        self.trace = args.trace
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.busy = 0  # claimed and not yet completed
        self.running = 0  # bodies running now
        self.ran = 0
        self.completed = 0
        self.refused = 0
        self.lost = 0
        self.claims = 0  # claim statements that returned jobs

    def run(self, stop: threading.Event, drain: bool) -> None:
        """Until ``stop`` is set, or (``drain``) until a claim finds nothing and no job is left."""
        self._run_slots(stop, drain)

    def _run_slots(self, stop: threading.Event, drain: bool) -> None:
        slots = [
            threading.Thread(target=self._slot, args=(stop, drain), name=f"slot-{n}")
            for n in range(self.slots)
        ]
        for slot in slots:
            slot.start()
        for slot in slots:
            slot.join()

    def _slot(self, stop: threading.Event, drain: bool) -> None:
        """Claim size 1: each slot claims one job, runs it and completes it, in turn."""
        while not stop.is_set():
            leases = self.store.claim(self.name, Phase.RUN, limit=1)
            if not leases:
                if drain:
                    return
                stop.wait(IDLE_POLL_SECONDS)
                continue
            with self.lock:
                self.busy += 1
                self.running += 1
                self.claims += 1
            self._work(leases[0])

    def _work(self, lease: Lease) -> None:
        try:
            try:
                self._body(lease)
            finally:
                with self.lock:
                    self.running -= 1
            try:
                self.store.complete(lease.job_id, lease.token)
                done, refused = 1, 0
            except StaleFencingToken:
                done, refused = 0, 1
            self._release(1, done, refused)
        except BaseException:
            self._release(1, 0, 0)
            raise

    def _body(self, lease: Lease) -> None:
        if not self.sleep:
            with self.lock:
                self.ran += 1
            return
        trace(self.trace, "start", lease.job_id)
        guard = LeaseGuard(lease)
        with self.keeper.keeping(guard):
            time.sleep(self.sleep)
        with self.lock:
            self.ran += 1
            self.lost += guard.lost.is_set()
        trace(self.trace, "finish", lease.job_id)

    def _release(self, count: int, done: int, refused: int) -> None:
        with self.lock:
            self.busy -= count
            self.completed += done
            self.refused += refused
        self.changed.set()


def run(args: argparse.Namespace) -> None:
    engine = make_engine(args.url, pool_size=max(5, args.concurrency + 2))
    store = Store(Database(engine), lease_seconds=args.lease, max_attempts=100)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner = Runner(store, args)
    started = ready_and_wait()
    runner.run(stop, drain=args.drain)
    result(
        started,
        runner.ran,
        completed=runner.completed,
        refused=runner.refused,
        heartbeat_lost=runner.lost,
        claim_statements=runner.claims,
    )
    engine.dispose()


class LoopCounts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran = self.lost = 0


def run_loop(args: argparse.Namespace) -> None:
    """The worker loop of ``farcaster worker`` with a no-op handler (see the docstring)."""
    settings = Settings(
        database_url=args.url,
        lease_seconds=args.lease,
        max_attempts=100,
        _env_file=None,  # type: ignore[call-arg]
    )
    runtime = Runtime.from_settings(settings)
    counts = LoopCounts()

    def handler(services: Services, lease: Lease, guard: LeaseGuard) -> None:
        trace(args.trace, "start", lease.job_id)
        if args.sleep:
            time.sleep(args.sleep)
        with counts.lock:
            counts.ran += 1
            counts.lost += guard.lost.is_set()
        trace(args.trace, "finish", lease.job_id)
        guard.complete(services.store)  # as the interpreter ends a job

    loop = build_worker_loop(
        runtime, worker_id=args.name, concurrency=args.concurrency, handlers={Phase.RUN: handler}
    )
    stop = threading.Event()

    def stop_now(*_: object) -> None:
        stop.set()
        loop.wake()

    signal.signal(signal.SIGTERM, stop_now)
    started = ready_and_wait()
    if args.drain:
        threading.Thread(
            target=stop_when_drained, args=(runtime, loop, stop_now), daemon=True
        ).start()
    loop.run_forever(stop)
    result(started, counts.ran, heartbeat_lost=counts.lost)
    runtime.close()


def stop_when_drained(runtime: Runtime, loop: WorkerLoop, stop_now: Callable[[], None]) -> None:
    """Stop the loop once no job is queued and its own handlers are done."""
    while True:
        time.sleep(DRAIN_POLL_SECONDS)
        if not runtime.store.list_jobs(state=JobState.QUEUED.value, limit=1) and not loop.running:
            stop_now()
            return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["install", "load", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--name", default="runner")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--claim", type=int, default=1)
    parser.add_argument("--loop", action="store_true", help="run the worker loop")
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.command == "install":
        upgrade(args.url)
    elif args.command == "load":
        load(args.url, args.jobs, args.sleep)
    elif args.loop:
        run_loop(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
