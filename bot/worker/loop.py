"""The worker loop: claim jobs, run their handlers in threads, end every attempt cleanly.

The rules:

- **Claims.** Each round claims as many jobs as there are free slots (``concurrency`` minus
  the running handlers) with one ``store.claim`` per phase; phases take turns being first,
  so a long run queue cannot starve the apply queue.
- **Running.** Each job runs in a thread of the loop's own (at most ``concurrency``, kept
  between jobs) under a :class:`~bot.worker.leases.LeaseGuard` (with the phase's time budget);
  the loop's :class:`~bot.worker.leases.LeaseKeeper` renews every held lease at a third of its
  length. The handler ends the attempt itself with a fenced store call, except a completion
  (``guard.complete``): that is handed to the loop.
- **Completions.** Every round writes the completions its handlers handed in since the last
  one, all in one statement (``store.complete_many``: each fenced by its own token, each
  with its event), on another thread while the round claims: a burst of short jobs costs
  one write, not one each, and the write does not delay the claim. A
  refused completion (another holder owns the job now) is logged and dropped; when the
  database is unavailable they are kept for the next round (the write is fenced, so a
  late one is refused, never applied twice). At shutdown they are written last.
- **Rate limits.** A :class:`~bot.core.errors.RateLimited` from the handler gives the job back to
  its queue for GitHub's ``retry_after`` (a ``rate_limited`` event; ``github_auth`` when
  GitHub refused the App's credentials, which heal the same way). That spends no attempt:
  waiting for GitHub is not a failure, and never a sleep inside a lease.
- **Failures.** Any other :class:`~bot.core.errors.FarcasterError` from the handler becomes
  ``store.fail`` with its reason code, message and retryability. Any other exception becomes a
  retryable ``internal_error`` with a one-line message (the traceback goes to the process
  log, never to events). ``LeaseLost`` and ``StaleFencingToken`` mean another holder owns
  the job: nothing more is written; so does any error raised once the guard was lost
  (a killed agent, a shutdown), which is the stop's consequence, not a failure. One
  exception: when the attempt spent its time budget while the lease was still ours, the
  loop fails it (fenced, retryable, ``time_budget_exceeded``) instead of leaving it to
  expire, so the trail says why.
  Every message is redacted.
- **Housekeeping.** ``store.reap_expired()`` every ``reap_interval`` seconds; the side tasks
  (e.g. the outbox drainer, returning how many items it handled) once per round while they
  find work, else every ``SIDE_TASK_SECONDS`` (an empty outbox is not asked on every round),
  and at once after ``wake`` (bot/worker/side_tasks.py): they run before the round claims.
- **Waiting.** Between rounds the loop sleeps until a handler ends, or for 50 ms doubling up
  to ``idle_max`` (about a second) while nothing ends and nothing new was started; a side
  task that handled something gets the next round at once. When a handler ends, the others
  still running get ``SETTLE_SECONDS`` (5 ms) to end too, so that one round writes their
  completions and refills their slots together.
- **Shutdown.** When ``stop`` is set the loop claims nothing more and lets running handlers
  finish for ``grace_seconds``; then it marks their guards lost (their agents are killed,
  their handlers stop at the next check) and returns. A lease it held simply expires; no
  store write is ever half done, because each is one transaction.
"""

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future

from bot.core.errors import (
    CredentialsRejected,
    FarcasterError,
    LeaseLost,
    Paced,
    RateLimited,
    StaleFencingToken,
    StoreError,
    StoreUnavailable,
)
from bot.core.records import Failure, Lease, Phase
from bot.core.redaction import Redactor, one_line
from bot.core.vocab import EventKind
from bot.store import Completion
from bot.worker.leases import LeaseGuard, LeaseKeeper
from bot.worker.services import Services
from bot.worker.side_tasks import SideTaskSchedule

Handler = Callable[[Services, Lease, LeaseGuard], None]
SideTask = Callable[[], int]

log = logging.getLogger("farcaster.worker")

IDLE_MIN_SECONDS = 0.05
SETTLE_SECONDS = 0.005
SIDE_TASK_SECONDS = 0.1
# After the grace period, how long stopped handlers get to unwind before the loop returns.
UNWIND_SECONDS = 5.0


def failure_from_error(exc: BaseException, redactor: Redactor) -> Failure:
    """The store's record of an attempt that ended with ``exc`` (pure)."""
    if isinstance(exc, FarcasterError):
        return Failure(
            reason_code=exc.reason_code,
            message=redactor.redact(exc.message),
            retryable=exc.retryable,
            retry_after=exc.retry_after if isinstance(exc, RateLimited) else None,
        )
    text = one_line(str(exc)) or "(no message)"
    return Failure(
        reason_code="internal_error",
        message=redactor.redact(f"Unexpected {type(exc).__name__}: {text}"),
        retryable=True,
    )


def postpone_for_rate_limit(
    runtime: Services, lease: Lease, exc: RateLimited, redactor: Redactor
) -> None:
    """GitHub asked us to wait: give the job back to its phase's queue for that long.

    Never a sleep inside the lease, and not a failed attempt either: a busy GitHub must not
    turn a good job into a tombstone. Waits have their own, generous cap (``max_waits``).
    """
    phase = Phase.of(lease.job.state)
    auth = isinstance(exc, CredentialsRejected)
    try:
        runtime.store.requeue(
            lease.job_id,
            lease.token,
            phase=phase,
            reason=(
                EventKind.GITHUB_AUTH
                if auth
                else EventKind.PACED
                if isinstance(exc, Paced)
                else EventKind.RATE_LIMITED
            ),
            delay=exc.retry_after,
            data={"message": redactor.redact(exc.message)},
        )
    except StaleFencingToken:
        log.warning("job %s: another worker owns it now; not postponed", lease.job_id)
    except StoreError as error:
        log.warning("job %s: not postponed, the lease will expire: %s", lease.job_id, error)


class WorkerLoop:
    def __init__(
        self,
        runtime: Services,
        *,
        worker_id: str,
        concurrency: int = 1,
        handlers: Mapping[Phase, Handler],
        side_tasks: Sequence[SideTask] = (),
        budget_seconds: Mapping[Phase, float] | None = None,
        grace_seconds: float = 30.0,
        reap_interval: float = 5.0,
        idle_max: float = 1.0,
        heartbeat_interval: float | None = None,
        clock: Callable[[], float | None] = lambda: None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.runtime = runtime
        self.worker_id = worker_id
        self.concurrency = concurrency
        self.handlers = dict(handlers)
        self.side_tasks = list(side_tasks)
        default_budget = 2 * runtime.settings.agent_timeout_seconds + 60
        self.budgets = {p: (budget_seconds or {}).get(p, default_budget) for p in self.handlers}
        self.grace_seconds = grace_seconds
        self.reap_interval = reap_interval
        self.idle_max = idle_max
        self.heartbeat_interval = heartbeat_interval
        # The `now` of claims and reaps: None is the database clock; tests pass a later time
        # to act as if leases had expired, instead of sleeping.
        self.clock = clock
        self.redactor = Redactor(runtime.settings.secret_values())
        self._phases = itertools.cycle(list(self.handlers))
        self._lock = threading.Lock()
        self._running: dict[threading.Event, LeaseGuard] = {}  # set when the job's handler ended
        self._threads = _Threads()
        self._keeper = LeaseKeeper(runtime.store, period=heartbeat_interval)
        self._completed: list[Completion] = []  # handed in, not yet written
        self._wake = threading.Event()
        self.draining = threading.Event()  # set once shutdown began: nothing more is claimed
        self._last_reap = float("-inf")
        self._side_tasks = SideTaskSchedule(SIDE_TASK_SECONDS)

    # -- public ---------------------------------------------------------------------------

    def start_round(self) -> list[threading.Event]:
        """Claim for the free slots and start a handler for each claimed job; one event per
        job, set when its handler has ended (its completion is then handed in)."""
        return [self._start(lease) for lease in self._claim_round()]

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set, then shut down gracefully (see the module docstring)."""
        log.info("worker %s started (concurrency %d)", self.worker_id, self.concurrency)
        idle = IDLE_MIN_SECONDS
        while not stop.is_set():
            self._wake.clear()
            writing = self._write_completions_meanwhile()
            self._reap_if_due()
            handled = self._run_side_tasks_if_due()
            started = [] if stop.is_set() else self.start_round()
            wrote = writing.result() if writing else 0
            if stop.is_set():
                break
            if handled:
                idle = IDLE_MIN_SECONDS
                continue
            if started or wrote:
                idle = IDLE_MIN_SECONDS
            if self._wake.wait(idle):
                idle = IDLE_MIN_SECONDS
                self._let_others_end()
            else:
                idle = min(idle * 2, self.idle_max)
        self._shut_down()

    def _run_side_tasks_if_due(self) -> int:
        now = time.monotonic()
        if not self._side_tasks.start_if_due(now):
            return 0
        handled = self.run_side_tasks()
        self._side_tasks.ran(now, handled)
        return handled

    def _let_others_end(self) -> None:
        """A handler just ended: wait up to SETTLE_SECONDS for those still running."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while self.running:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._wake.clear()
            if self.running:  # one that ended just now has set the event before the clear
                self._wake.wait(left)

    def run_side_tasks(self) -> int:
        """Each side task once; how many items they handled in all. A failing one is logged."""
        done = 0
        for task in self.side_tasks:
            try:
                done += task()
            except StoreError as exc:  # the store refused (down, most often): try next round
                log.warning("side task %s failed: %s", getattr(task, "__name__", task), exc)
            except Exception:  # a side task's bug: the others and the loop go on
                log.exception("side task %s failed", getattr(task, "__name__", task))
        return done

    def write_completions(self) -> int:
        """Write the completions handed in since the last call, in one statement; how many."""
        with self._lock:
            batch, self._completed = self._completed, []
        if not batch:
            return 0
        try:
            results = self.runtime.store.complete_many(batch)
        except StoreUnavailable as exc:
            log.warning("writing %d completion(s) failed; trying again: %s", len(batch), exc)
            with self._lock:
                self._completed[:0] = batch
            return 0
        except StoreError as exc:  # a handler's bug (the same job twice): nothing to retry
            log.error("%d completion(s) dropped; their leases will expire: %s", len(batch), exc)
            return 0
        for completion, refused in zip(batch, results, strict=True):
            if refused is not None:
                log.warning("job %s: completion refused: %s", completion.job_id, refused.message)
        return len(batch)

    def _write_completions_meanwhile(self) -> "Future[int] | None":
        """:meth:`write_completions` in another thread, while this one claims."""
        with self._lock:
            if not self._completed:
                return None
        writing: Future[int] = Future()

        def write() -> None:
            try:
                writing.set_result(self.write_completions())
            except BaseException as exc:  # handed to the loop, which raises it
                writing.set_exception(exc)

        self._threads.run(write)
        return writing

    def _hand_in(self, completion: Completion) -> None:
        with self._lock:
            self._completed.append(completion)

    def wake(self) -> None:
        """Cut the idle wait short and run the side tasks in the next round, before it
        claims: triage calls this when it queued work or feedback, the CLI when it sets
        ``stop``."""
        self._side_tasks.wake()
        self._wake.set()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._running)

    # -- claiming and running -------------------------------------------------------------

    def _claim_round(self) -> list[Lease]:
        free = self.concurrency - self.running
        leases: list[Lease] = []
        first = next(self._phases, None)
        if first is None:
            return leases
        order = [first, *(p for p in self.handlers if p is not first)]
        for phase in order:
            if free <= 0:
                break
            try:
                claimed = self.runtime.store.claim(
                    self.worker_id, phase, limit=free, now=self.clock()
                )
            except StoreError as exc:
                log.warning("claiming %s jobs failed; trying again shortly: %s", phase.value, exc)
                break
            leases += claimed
            free -= len(claimed)
        return leases

    def _start(self, lease: Lease) -> threading.Event:
        phase = Phase.of(lease.job.state)
        guard = LeaseGuard(lease, budget_seconds=self.budgets.get(phase), hand_in=self._hand_in)
        ended = threading.Event()
        with self._lock:
            self._running[ended] = guard
        self._threads.run(lambda: self._execute(phase, lease, guard, ended))
        return ended

    def _execute(
        self, phase: Phase, lease: Lease, guard: LeaseGuard, ended: threading.Event
    ) -> None:
        threading.current_thread().name = f"job-{lease.job_id}"
        try:
            self._handle(phase, lease, guard)
        finally:
            with self._lock:
                self._running.pop(ended, None)
            ended.set()
            self._wake.set()

    def _handle(self, phase: Phase, lease: Lease, guard: LeaseGuard) -> None:
        job_id = lease.job_id
        handler = self.handlers[phase]
        log.info("job %s: %s attempt %d started", job_id, phase.value, lease.job.attempt)
        try:
            with self._keeper.keeping(guard):
                handler(self.runtime, lease, guard)
        except RateLimited as exc:
            postpone_for_rate_limit(self.runtime, lease, exc, self.redactor)
            return
        except (LeaseLost, StaleFencingToken) as exc:
            if guard.budget_spent:
                message = f"The attempt ran past its time budget of {self.budgets[phase]:g} s."
                self._fail(lease, Failure("time_budget_exceeded", message, retryable=True))
            else:
                log.warning("job %s: stopped without writing: %s", job_id, exc)
            return
        except Exception as exc:  # our errors with their code; any other is a handler's bug
            if guard.lost.is_set() and not guard.budget_spent:
                # The error is a consequence of the stop (a killed agent, a shutdown).
                log.warning("job %s: stopped without writing: %s", job_id, one_line(str(exc)))
                return
            failure = failure_from_error(exc, self.redactor)
            if isinstance(exc, FarcasterError):
                log.info("job %s: attempt failed: %s", job_id, failure.message)
            else:
                log.exception("job %s: handler crashed", job_id)
            self._fail(lease, failure)
            return
        log.info("job %s: %s attempt %d finished", job_id, phase.value, lease.job.attempt)

    def _fail(self, lease: Lease, failure: Failure) -> None:
        try:
            self.runtime.store.fail(lease.job_id, lease.token, failure)
        except StaleFencingToken:
            log.warning("job %s: another worker owns it now; failure not recorded", lease.job_id)
        except StoreError as exc:
            log.warning(
                "job %s: recording the failure failed; the lease will expire: %s", lease.job_id, exc
            )

    # -- housekeeping ---------------------------------------------------------------------

    def _reap_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_reap < self.reap_interval:
            return
        self._last_reap = now
        try:
            reaped = self.runtime.store.reap_expired(now=self.clock())
        except StoreError as exc:
            log.warning("reaping expired leases failed: %s", exc)
            return
        if reaped:
            log.info("tombstoned after their last lease expired: %s", ", ".join(reaped))

    def _shut_down(self) -> None:
        self.draining.set()
        with self._lock:
            running = dict(self._running)
        if running:
            log.info("stopping: waiting up to %g s for %d job(s)", self.grace_seconds, len(running))
        deadline = time.monotonic() + self.grace_seconds
        for handler_ended in running:
            handler_ended.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = dict(self._running)
        for guard in left.values():
            guard.mark_lost("the worker is shutting down")
        unwind = time.monotonic() + UNWIND_SECONDS
        for handler_ended in left:
            handler_ended.wait(max(0.0, unwind - time.monotonic()))
        self.write_completions()
        log.info("worker %s stopped", self.worker_id)


class _Threads:
    """The threads that run handlers: one is started when none is idle, and each waits for
    the next job after its own. Daemons: after the grace period and the unwind, a handler
    stuck in a call that cannot be interrupted must not keep the process alive (its lease
    just expires)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            self._jobs.get()()
            threading.current_thread().name = "job-idle"
            with self._lock:
                self._idle += 1
