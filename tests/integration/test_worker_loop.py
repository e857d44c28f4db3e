"""The worker loop on both engines, with handlers that stand in for the runner."""

import threading
import time

import pytest

from bot.app.runtime import Runtime
from bot.core.errors import AgentFailed, LeaseLost, RateLimited, StoreUnavailable
from bot.core.records import JobState, NewProposal, Phase
from bot.core.redaction import REDACTED
from bot.worker.loop import WorkerLoop
from tests.factories import new_job
from tests.worker_round import one_round

WAIT = 10.0  # seconds: the longest any condition below may take before the test fails


@pytest.fixture
def runtime(settings):
    rt = Runtime.from_settings(settings)
    yield rt
    rt.close()


def enqueue(runtime, job_id, *, max_attempts=None, now=None):
    spec = new_job(id=job_id, idempotency_key=f"k-{job_id}", max_attempts=max_attempts)
    return runtime.store.enqueue(spec, now=now).job


def propose(runtime, lease, guard):
    runtime.store.store_proposal(
        lease.job_id,
        guard.token,
        NewProposal(
            base_sha="b" * 40, diff="diff --git a/x b/x\n", agent="fake", agent_version="1"
        ),
    )


def loop_of(runtime, handler, **options):
    return WorkerLoop(runtime, worker_id="w1", handlers={Phase.RUN: handler}, **options)


def kinds(runtime, job_id):
    return [e.kind for e in runtime.store.events(job_id)]


def failure_of(runtime, job_id):
    return next(e.data for e in runtime.store.events(job_id) if e.kind == "attempt_failed")


def wait_for(condition, what):
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_free_slots_are_filled_with_one_claim_and_the_jobs_run_at_once(runtime):
    for n in range(3):
        enqueue(runtime, f"job{n}")
    claims = []
    real_claim = runtime.store.claim

    def counting_claim(*args, **kwargs):
        claims.append(kwargs.get("limit"))
        return real_claim(*args, **kwargs)

    runtime.store.claim = counting_claim
    together = threading.Barrier(3, timeout=WAIT)

    def handler(rt, lease, guard):
        together.wait()  # only passes if all three run at the same time
        propose(rt, lease, guard)

    assert one_round(loop_of(runtime, handler, concurrency=3)) == 3
    assert claims == [3]
    assert {runtime.store.get(f"job{n}").state for n in range(3)} == {JobState.PROPOSED}


def test_no_more_jobs_are_claimed_than_there_are_slots(runtime):
    for n in range(5):
        enqueue(runtime, f"job{n}")
    assert one_round(loop_of(runtime, propose, concurrency=2)) == 2
    states = [runtime.store.get(f"job{n}").state for n in range(5)]
    assert states.count(JobState.QUEUED) == 3


def test_a_refusal_tombstones_the_job_with_its_reason_and_message(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        raise AgentFailed("No symbol 'x' (similar: a.py:3).", reason_code="unknown_symbol")

    one_round(loop_of(runtime, handler))
    assert runtime.store.get("job1").state is JobState.TOMBSTONED
    failure = failure_of(runtime, "job1")
    assert failure["reason_code"] == "unknown_symbol"
    assert failure["message"] == "No symbol 'x' (similar: a.py:3)."
    assert failure["retryable"] is False


def test_a_retryable_failure_goes_back_to_the_queue_with_a_delay(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        raise AgentFailed("took too long", reason_code="agent_timeout", retryable=True)

    one_round(loop_of(runtime, handler))
    job = runtime.store.get("job1")
    assert job.state is JobState.QUEUED
    assert failure_of(runtime, "job1")["retry_in"] > 0
    assert job.last_error == "agent_timeout: took too long"


def test_a_rate_limit_waits_as_long_as_github_asked(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        raise RateLimited("GitHub rate limit; retry in 120 s.", retry_after=120.0)

    one_round(loop_of(runtime, handler))
    job = runtime.store.get("job1")
    assert job.state is JobState.QUEUED
    assert job.attempts == 0  # waiting for GitHub is not a failed attempt
    (limited,) = [e for e in runtime.store.events("job1") if e.kind == "rate_limited"]
    assert limited.data["delay"] == 120.0
    assert not [e for e in runtime.store.events("job1") if e.kind == "attempt_failed"]
    assert job.run_after >= job.updated_at + 119


def test_an_unexpected_exception_is_a_retryable_one_line_internal_error(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        raise ValueError("bad value\nwith a second line")

    one_round(loop_of(runtime, handler))
    failure = failure_of(runtime, "job1")
    assert failure["reason_code"] == "internal_error"
    assert failure["message"] == "Unexpected ValueError: bad value"
    assert failure["retryable"] is True
    assert runtime.store.get("job1").state is JobState.QUEUED


def test_secrets_in_error_messages_never_reach_the_events(runtime, settings):
    enqueue(runtime, "job1")
    secret = settings.webhook_secret.get_secret_value()

    def handler(rt, lease, guard):
        raise RuntimeError(f"failed with {secret} and ghs_{'x' * 36}")

    one_round(loop_of(runtime, handler))
    message = failure_of(runtime, "job1")["message"]
    assert secret not in message
    assert "ghs_" not in message
    assert message.count(REDACTED) == 2


def test_a_handler_that_lost_its_lease_writes_nothing(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        raise LeaseLost("gone")

    one_round(loop_of(runtime, handler))
    assert kinds(runtime, "job1") == ["created", "claimed"]
    assert runtime.store.get("job1").state is JobState.RUNNING


def test_a_stolen_lease_stops_the_handler_and_only_the_new_holder_writes(runtime):
    enqueue(runtime, "job1")
    started = threading.Event()

    def handler(rt, lease, guard):
        started.set()
        assert guard.lost.wait(WAIT), "the heartbeat never noticed the lost lease"
        guard.check()  # raises LeaseLost
        propose(rt, lease, guard)  # never reached

    loop = loop_of(runtime, handler, heartbeat_interval=0.02)
    runner = threading.Thread(target=one_round, args=(loop,))
    runner.start()
    assert started.wait(WAIT)
    # Another worker, whose clock says the lease expired long ago, takes the job over.
    (thief,) = runtime.store.claim("w2", Phase.RUN, now=time.time() + 1000)
    runner.join(WAIT)
    assert not runner.is_alive()
    propose(runtime, thief, thief)
    assert kinds(runtime, "job1") == [
        "created",
        "claimed",
        "lease_expired",
        "claimed",
        "proposal_stored",
    ]


def test_an_attempt_past_its_time_budget_is_failed_and_retried(runtime):
    enqueue(runtime, "job1")

    def handler(rt, lease, guard):
        while True:  # a hung step that still checks its guard
            guard.lost.wait(0.01)
            guard.check()

    one_round(loop_of(runtime, handler, budget_seconds={Phase.RUN: 0.05}))
    failure = failure_of(runtime, "job1")
    assert failure["reason_code"] == "time_budget_exceeded"
    assert failure["retryable"] is True
    assert runtime.store.get("job1").state is JobState.QUEUED


def run_in_thread(loop):
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_forever, args=(stop,))
    thread.start()
    return stop, thread


def test_the_loop_reaps_expired_last_attempts_and_runs_side_tasks(runtime):
    long_ago = time.time() - 1000
    enqueue(runtime, "dead", max_attempts=1, now=long_ago)
    runtime.store.claim("ghost", Phase.RUN, now=long_ago)  # its lease expired long ago
    calls = []
    called_twice = threading.Event()

    def side_task():
        calls.append(1)
        if len(calls) >= 2:
            called_twice.set()
        return 0

    loop = loop_of(runtime, propose, side_tasks=[side_task], idle_max=0.05)
    stop, thread = run_in_thread(loop)
    try:
        wait_for(lambda: runtime.store.get("dead").state is JobState.TOMBSTONED, "the reaper")
        assert called_twice.wait(WAIT)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert kinds(runtime, "dead")[-2:] == ["lease_expired", "tombstoned"]


def test_a_failing_side_task_does_not_stop_the_loop(runtime):
    enqueue(runtime, "job1")

    def broken():
        raise RuntimeError("outbox down")

    loop = loop_of(runtime, propose, side_tasks=[broken], idle_max=0.05)
    stop, thread = run_in_thread(loop)
    try:
        wait_for(lambda: runtime.store.get("job1").state is JobState.PROPOSED, "the job")
    finally:
        stop.set()
        thread.join(WAIT)


def test_shutdown_claims_nothing_more_and_lets_running_jobs_finish(runtime):
    enqueue(runtime, "first")
    started, release = threading.Event(), threading.Event()

    def handler(rt, lease, guard):
        started.set()
        assert release.wait(WAIT)
        propose(rt, lease, guard)

    loop = loop_of(runtime, handler, concurrency=2, grace_seconds=WAIT)
    stop, thread = run_in_thread(loop)
    assert started.wait(WAIT)
    stop.set()
    loop.wake()
    assert loop.draining.wait(WAIT)
    enqueue(runtime, "second")  # arrives while the worker drains: not for this worker
    release.set()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert runtime.store.get("first").state is JobState.PROPOSED
    assert kinds(runtime, "second") == ["created"]


def test_after_the_grace_period_running_jobs_are_stopped_and_their_leases_left_to_expire(
    runtime,
):
    enqueue(runtime, "slow")
    started = threading.Event()

    def handler(rt, lease, guard):
        started.set()
        assert guard.lost.wait(WAIT)
        guard.check()

    loop = loop_of(runtime, handler, grace_seconds=0.05)
    stop, thread = run_in_thread(loop)
    assert started.wait(WAIT)
    stop.set()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert kinds(runtime, "slow") == ["created", "claimed"]
    assert runtime.store.get("slow").state is JobState.RUNNING


def test_completions_of_a_round_are_written_together_each_fenced_by_its_token(runtime):
    for n in range(4):
        enqueue(runtime, f"job{n}")
    batches = []
    real_complete_many = runtime.store.complete_many

    def counting_complete_many(completions, **kwargs):
        batches.append(sorted(c.job_id for c in completions))
        return real_complete_many(completions, **kwargs)

    runtime.store.complete_many = counting_complete_many

    def handler(rt, lease, guard):
        if lease.job_id == "job2":  # a maintainer cancels it while the handler runs
            rt.store.cancel(lease.job_id, actor="maintainer")
        guard.complete(rt.store, data={"pr_number": int(lease.job_id[-1])})

    assert one_round(loop_of(runtime, handler, concurrency=4)) == 4

    assert batches == [["job0", "job1", "job2", "job3"]]
    for job_id in ("job0", "job1", "job3"):
        assert runtime.store.get(job_id).state is JobState.DONE
        (completed,) = [e for e in runtime.store.events(job_id) if e.kind == "completed"]
        assert completed.data == {"pr_number": int(job_id[-1])}
    assert runtime.store.get("job2").state is JobState.CANCELLED
    assert "completed" not in kinds(runtime, "job2")
    assert kinds(runtime, "job2")[-1] == "fenced_write_rejected"


def test_a_completion_waits_out_an_unavailable_database_and_is_written_next_round(runtime):
    enqueue(runtime, "job0")
    real_complete_many = runtime.store.complete_many
    calls = []

    def flaky_complete_many(completions, **kwargs):
        calls.append(len(completions))
        if len(calls) == 1:
            raise StoreUnavailable("The database could not serve the call: connection lost.")
        return real_complete_many(completions, **kwargs)

    runtime.store.complete_many = flaky_complete_many
    loop = loop_of(runtime, lambda rt, lease, guard: guard.complete(rt.store))
    assert one_round(loop) == 1
    assert runtime.store.get("job0").state is JobState.RUNNING  # the write failed; kept
    assert loop.write_completions() == 1
    assert runtime.store.get("job0").state is JobState.DONE
    assert calls == [1, 1]
