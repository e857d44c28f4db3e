"""Our job store under bench/claim.py: a small runner with slots (project interpreter).

    install --url URL                      the schema, by our Alembic migrations
    load --url URL --jobs N [--sleep S]    N jobs in one transaction (job rows + created events)
    run --url URL --name NAME ...          one runner process (see bench/peers/protocol.py)

The runner has ``--concurrency`` slots; a slot stays taken until its job's completion
commits. Two ways to fill them:

* ``--claim 1``: each slot is a thread that claims one job (``Store.claim(limit=1)``),
  runs it and ends it with ``Store.complete`` (one transaction per job, as a handler does
  today), then claims the next: the plain API, with as many connections as slots.
* ``--claim N`` (N > 1): bot/worker/loop.py's policy. A dispatcher claims
  ``min(N, free slots)`` jobs in one ``Store.claim`` statement and hands each to a slot
  thread; a completer thread ends the finished bodies with ``Store.complete_many`` (one
  transaction, one ``completed`` event per job, each fenced by its own token). It waits
  up to ``LINGER_SECONDS`` for bodies still running, so one claim's jobs end together.

``--sleep S`` jobs hold their lease for S seconds under bot.worker.leases.heartbeating (every
``--heartbeat`` seconds). Whatever the heartbeat says, the body then tries to complete:
this runner plays the paused holder that never noticed, so that the fencing token, not
the runner's good manners, is what the pause scenario measures.
"""

import argparse
import queue
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from protocol import ready_and_wait, result, trace
from sqlalchemy import insert

from bot.core.errors import StaleFencingToken
from bot.core.records import Job, JobState, Lease, Phase
from bot.store import Database, Store
from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from bot.store.statements import Completion
from bot.store.tables import EVENTS, JOBS
from bot.worker.leases import LeaseGuard, heartbeating

IDLE_POLL_SECONDS = 0.05
LINGER_SECONDS = 0.02


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
        self.claim_size = args.claim
        self.sleep = args.sleep
        self.heartbeat = args.heartbeat
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
        self.batches = 0  # complete_many transactions
        self.finished: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()

    def run(self, stop: threading.Event, drain: bool) -> None:
        """Until ``stop`` is set, or (``drain``) until a claim finds nothing and no job is left."""
        if self.claim_size == 1:
            self._run_slots(stop, drain)
        else:
            self._run_dispatcher(stop, drain)

    def _run_slots(self, stop: threading.Event, drain: bool) -> None:
        slots = [
            threading.Thread(target=self._slot, args=(stop, drain), name=f"slot-{n}")
            for n in range(self.slots)
        ]
        for slot in slots:
            slot.start()
        for slot in slots:
            slot.join()

    def _run_dispatcher(self, stop: threading.Event, drain: bool) -> None:
        pool = ThreadPoolExecutor(self.slots, thread_name_prefix="slot")
        completer = threading.Thread(target=self._complete_batches, name="completer")
        completer.start()
        while True:
            with self.lock:
                free = self.slots - self.busy
            leases: list[Lease] = []
            if free > 0 and not stop.is_set():
                leases = self.store.claim(self.name, Phase.RUN, limit=min(self.claim_size, free))
            if leases:
                with self.lock:
                    self.busy += len(leases)
                    self.running += len(leases)
                    self.claims += 1
                for lease in leases:
                    pool.submit(self._work, lease)
                continue
            with self.lock:
                idle = self.busy == 0
            if idle and (stop.is_set() or (drain and free > 0)):
                break
            self.changed.wait(IDLE_POLL_SECONDS)
            self.changed.clear()
        pool.shutdown()
        self.finished.put(None)
        completer.join()

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
            if self.claim_size > 1:
                self.finished.put((lease.job_id, lease.token))
                return
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
        with heartbeating(self.store, guard, interval=self.heartbeat):
            time.sleep(self.sleep)
        with self.lock:
            self.ran += 1
            self.lost += guard.lost.is_set()
        trace(self.trace, "finish", lease.job_id)

    def _complete_batches(self) -> None:
        """End finished bodies in batches: whatever has finished, waiting a moment (at most
        ``LINGER_SECONDS``) for bodies still running, so that one claim's jobs end together."""
        while True:
            first = self.finished.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + LINGER_SECONDS
            while len(batch) < self.slots:
                with self.lock:
                    running = self.running
                try:
                    if running:
                        item = self.finished.get(timeout=max(deadline - time.monotonic(), 0))
                    else:
                        item = self.finished.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.finished.put(None)
                    break
                batch.append(item)
            try:
                results = self.store.complete_many([Completion(j, t) for j, t in batch])
                done = sum(isinstance(r, Job) for r in results)
            except BaseException:
                self._release(len(batch), 0, 0)
                raise
            self._release(len(batch), done, len(batch) - done, batch=True)

    def _release(self, count: int, done: int, refused: int, *, batch: bool = False) -> None:
        with self.lock:
            self.batches += batch
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
        complete_many_calls=runner.batches,
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["install", "load", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--name", default="runner")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--claim", type=int, default=1)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.command == "install":
        upgrade(args.url)
    elif args.command == "load":
        load(args.url, args.jobs, args.sleep)
    else:
        run(args)


if __name__ == "__main__":
    main()
