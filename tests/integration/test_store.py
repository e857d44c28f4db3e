"""The job store's rules, one by one, on SQLite and PostgreSQL (the `store` fixture runs both)."""

import pytest

from bot.core.errors import JobNotFound, StaleFencingToken
from bot.core.records import Failure, JobState, NewJob, NewProposal, Phase
from bot.store import Store

DIFF = """diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1 +1 @@
-def old(): pass
+def new(): pass
"""


def new_job(n: int = 1, **overrides) -> NewJob:
    values = dict(
        id=f"job{n:04d}",
        idempotency_key=f"comment:{n}",
        repo="octo/widgets",
        agent="rename",
        command={"name": "rename", "old": "old", "new": "new", "paths": []},
        base_ref="main",
        base_sha="a" * 40,
    )
    values.update(overrides)
    return NewJob(**values)


def kinds(store: Store, job_id: str) -> list[str]:
    return [e.kind for e in store.events(job_id)]


def test_enqueue_is_idempotent_by_key(store: Store) -> None:
    first = store.enqueue(new_job())
    second = store.enqueue(new_job(agent="replace"))
    assert first.created and not second.created
    assert second.job.id == first.job.id and second.job.agent == "rename"
    assert kinds(store, first.job.id) == ["created"]
    assert len(store.list_jobs()) == 1


def test_claim_sets_owner_expiry_and_next_fencing_token(store: Store) -> None:
    store.enqueue(new_job(), now=1000.0)
    (lease,) = store.claim("w1", Phase.RUN, now=1000.0)
    assert lease.token == 1 and lease.owner == "w1"
    assert lease.expires_at == pytest.approx(1030.0)
    job = store.get(lease.job_id)
    assert job.state is JobState.RUNNING and job.lease_owner == "w1"
    assert (job.attempts, job.attempt) == (0, 1)  # a claim spends no attempt
    assert store.claim("w2", Phase.RUN, now=1001.0) == []


def test_claim_takes_several_jobs_in_one_statement_oldest_first(store: Store) -> None:
    for n in range(5):
        store.enqueue(new_job(n), now=100.0 + n)
    leases = store.claim("w1", Phase.RUN, limit=3, now=200.0)
    assert [lease.job_id for lease in leases] == ["job0000", "job0001", "job0002"]


def test_claim_waits_for_run_after(store: Store) -> None:
    store.enqueue(new_job(), now=100.0)
    (lease,) = store.claim("w1", Phase.RUN, now=100.0)
    store.fail(lease.job_id, lease.token, Failure("flaky", "try later", retryable=True), now=101.0)
    job = store.get(lease.job_id)
    assert job.state is JobState.QUEUED and job.run_after == pytest.approx(
        102.0
    )  # 2 s / 2, no jitter
    assert store.claim("w1", Phase.RUN, now=101.5) == []
    assert len(store.claim("w1", Phase.RUN, now=102.0)) == 1


def test_backoff_grows_exponentially_between_attempts(store: Store) -> None:
    store.enqueue(new_job(), now=0.0)
    delays = []
    now = 0.0
    for _ in range(2):
        (lease,) = store.claim("w", Phase.RUN, now=now)
        job = store.fail(lease.job_id, lease.token, Failure("x", "y", retryable=True), now=now)
        delays.append(job.run_after - now)
        now = job.run_after
    assert delays == [pytest.approx(1.0), pytest.approx(2.0)]


def test_heartbeat_extends_the_lease_while_the_token_is_current(store: Store) -> None:
    store.enqueue(new_job(), now=1000.0)
    (lease,) = store.claim("w1", Phase.RUN, now=1000.0)
    assert store.heartbeat(lease.job_id, lease.token, now=1020.0)
    assert store.get(lease.job_id).lease_expires_at == pytest.approx(1050.0)
    # Not expired at 1040 any more, so nobody can reclaim it.
    assert store.claim("w2", Phase.RUN, now=1040.0) == []


def test_expired_lease_is_reclaimed_and_counts_as_an_attempt(store: Store) -> None:
    store.enqueue(new_job(), now=1000.0)
    (first,) = store.claim("w1", Phase.RUN, now=1000.0)
    (second,) = store.claim("w2", Phase.RUN, now=1031.0)
    assert second.token == first.token + 1
    assert (second.job.attempts, second.job.attempt) == (1, 2)  # the lost lease counts
    assert kinds(store, first.job_id) == ["created", "claimed", "lease_expired", "claimed"]
    expired = store.events(first.job_id)[2]
    assert expired.data["owner"] == "w1"


def test_heartbeat_is_refused_after_lease_was_reclaimed(store: Store) -> None:
    store.enqueue(new_job(), now=1000.0)
    (first,) = store.claim("w1", Phase.RUN, now=1000.0)
    store.claim("w2", Phase.RUN, now=1031.0)
    assert not store.heartbeat(first.job_id, first.token, now=1032.0)


def test_stale_holder_cannot_store_a_proposal_or_complete(store: Store) -> None:
    store.enqueue(new_job(), now=1000.0)
    (stale,) = store.claim("w1", Phase.RUN, now=1000.0)
    (fresh,) = store.claim("w2", Phase.RUN, now=1031.0)
    proposal = NewProposal(base_sha="a" * 40, diff=DIFF, agent="rename", agent_version="1")
    with pytest.raises(StaleFencingToken):
        store.store_proposal(stale.job_id, stale.token, proposal)
    with pytest.raises(StaleFencingToken):
        store.fail(stale.job_id, stale.token, Failure("x", "y", retryable=True))
    assert store.proposals(stale.job_id) == []
    record = store.store_proposal(fresh.job_id, fresh.token, proposal)
    assert record.fencing_token == fresh.token
    rejected = [e for e in store.events(stale.job_id) if e.kind == "fenced_write_rejected"]
    assert [e.data["step"] for e in rejected] == ["store_proposal", "fail"]
    assert all(e.fencing_token == stale.token for e in rejected)


def test_store_proposal_moves_the_job_to_the_interpreter_in_one_transaction(store: Store) -> None:
    store.enqueue(new_job())
    (lease,) = store.claim("w1", Phase.RUN)
    record = store.store_proposal(
        lease.job_id,
        lease.token,
        NewProposal(base_sha="a" * 40, diff=DIFF, agent="rename", agent_version="1.0"),
    )
    assert (record.files_changed, record.additions, record.deletions) == (1, 1, 1)
    job = store.get(lease.job_id)
    assert job.state is JobState.PROPOSED and job.lease_owner is None
    assert store.claim("w1", Phase.RUN) == []
    (apply_lease,) = store.claim("i1", Phase.APPLY)
    assert apply_lease.token == lease.token + 1


def test_effects_are_recorded_once_and_fenced(store: Store) -> None:
    store.enqueue(new_job(), now=4990.0)
    (run,) = store.claim("w1", Phase.RUN, now=4990.0)
    store.store_proposal(
        run.job_id, run.token, NewProposal("a" * 40, DIFF, "rename", "1"), now=4999.0
    )
    (lease,) = store.claim("i1", Phase.APPLY, now=5000.0)
    store.record_effect(lease.job_id, lease.token, "tree", {"sha": "t1"}, now=5001.0)
    again = store.record_effect(lease.job_id, lease.token, "tree", {"sha": "t2"}, now=5002.0)
    assert again.result == {"sha": "t1"}
    assert store.effects(lease.job_id)["tree"].result == {"sha": "t1"}
    (successor,) = store.claim("i2", Phase.APPLY, now=5031.0)
    with pytest.raises(StaleFencingToken):
        store.record_effect(lease.job_id, lease.token, "commit", {"sha": "c"})
    store.record_effect(successor.job_id, successor.token, "commit", {"sha": "c"})
    assert set(store.effects(lease.job_id)) == {"tree", "commit"}


def test_complete_finishes_the_job(store: Store) -> None:
    store.enqueue(new_job())
    (lease,) = store.claim("w1", Phase.RUN)
    job = store.complete(lease.job_id, lease.token, data={"pr": 7})
    assert job.state is JobState.DONE
    assert kinds(store, job.id)[-1] == "completed"
    with pytest.raises(StaleFencingToken):
        store.complete(lease.job_id, lease.token)


def test_non_retryable_failure_makes_a_tombstone_that_keeps_the_trail(store: Store, outbox) -> None:
    store.enqueue(new_job())
    (lease,) = store.claim("w1", Phase.RUN)
    failure = Failure("unknown_symbol", "No symbol named old.", retryable=False)
    job = store.fail(lease.job_id, lease.token, failure)
    assert job.state is JobState.TOMBSTONED
    tomb = store.tombstone(job.id)
    assert tomb is not None and tomb.reason_code == "unknown_symbol"
    assert [e["kind"] for e in tomb.trail] == ["created", "claimed", "attempt_failed", "tombstoned"]
    assert store.claim("w2", Phase.RUN, now=10**10) == []
    reports = outbox.items(kind="job_report")
    assert [r["job_id"] for r in reports] == [job.id]


def test_last_attempt_makes_a_tombstone(store: Store) -> None:
    store.enqueue(new_job(), now=0.0)  # max_attempts is 3 in the fixture
    now = 0.0
    for _ in range(3):
        (lease,) = store.claim("w", Phase.RUN, now=now)
        job = store.fail(lease.job_id, lease.token, Failure("net", "down", retryable=True), now=now)
        now = job.run_after
    assert job.state is JobState.TOMBSTONED and job.attempts == 3


def test_expired_lease_on_the_last_attempt_is_reaped_into_a_tombstone(store: Store) -> None:
    store.enqueue(new_job(max_attempts=1), now=1000.0)
    store.claim("w1", Phase.RUN, now=1000.0)
    assert store.claim("w2", Phase.RUN, now=2000.0) == []
    assert store.reap_expired(now=2000.0) == ["job0001"]
    job = store.get("job0001")
    assert job.state is JobState.TOMBSTONED and job.attempts == 1
    assert store.tombstone(job.id).reason_code == "lease_expired"


def test_an_expired_lease_with_attempts_left_is_reclaimed_not_reaped(store: Store) -> None:
    store.enqueue(new_job(max_attempts=2), now=1000.0)
    store.claim("w1", Phase.RUN, now=1000.0)
    assert store.reap_expired(now=2000.0) == []
    (lease,) = store.claim("w2", Phase.RUN, now=2000.0)
    assert lease.job.attempts == 1
    assert store.reap_expired(now=3000.0) == ["job0001"]
    assert store.get("job0001").attempts == 2


def test_a_clean_job_spends_no_attempt_and_a_refusal_spends_one(store: Store) -> None:
    store.enqueue(new_job(1), now=0.0)
    (run,) = store.claim("w", Phase.RUN, now=0.0)
    proposal = NewProposal("a" * 40, DIFF, "rename", "1")
    store.store_proposal(run.job_id, run.token, proposal, now=0.0)
    (apply,) = store.claim("i", Phase.APPLY, now=1.0)
    assert apply.job.attempt == 1
    assert store.complete(apply.job_id, apply.token).attempts == 0
    claimed = [e.attempt for e in store.events(run.job_id) if e.kind == "claimed"]
    assert claimed == [1, 1]  # both phases belong to the first attempt

    store.enqueue(new_job(2), now=0.0)
    (lease,) = store.claim("w", Phase.RUN, now=0.0)
    job = store.fail(lease.job_id, lease.token, Failure("invalid_diff", "no", retryable=False))
    assert job.state is JobState.TOMBSTONED and job.attempts == 1


def test_cancel_takes_the_lease_away(store: Store) -> None:
    store.enqueue(new_job())
    (lease,) = store.claim("w1", Phase.RUN)
    store.cancel(lease.job_id, actor="maintainer", reason="changed my mind")
    assert not store.heartbeat(lease.job_id, lease.token)
    with pytest.raises(StaleFencingToken):
        store.store_proposal(lease.job_id, lease.token, NewProposal("a" * 40, DIFF, "r", "1"))
    assert store.get(lease.job_id).state is JobState.CANCELLED


def test_retry_revives_a_tombstone_as_a_new_attempt(store: Store) -> None:
    store.enqueue(new_job())
    (lease,) = store.claim("w1", Phase.RUN)
    store.fail(lease.job_id, lease.token, Failure("unknown_symbol", "no", retryable=False))
    job = store.retry(lease.job_id, actor="maintainer")
    assert job.state is JobState.QUEUED
    (again,) = store.claim("w1", Phase.RUN)
    assert (again.job.attempts, again.job.attempt, again.token) == (1, 2, 2)
    assert kinds(store, job.id)[-2:] == ["retried", "claimed"]


def test_requeue_for_drift_reruns_on_the_new_base_and_forgets_old_effects(store: Store) -> None:
    store.enqueue(new_job())
    (run,) = store.claim("w1", Phase.RUN)
    store.store_proposal(run.job_id, run.token, NewProposal("a" * 40, DIFF, "rename", "1"))
    (lease,) = store.claim("i1", Phase.APPLY)
    store.record_effect(lease.job_id, lease.token, "tree", {"sha": "t"})
    job = store.requeue(
        lease.job_id,
        lease.token,
        phase=Phase.RUN,
        reason="drift",
        base_sha="b" * 40,
        data={"files": ["a.py"]},
    )
    assert job.state is JobState.QUEUED and job.base_sha == "b" * 40
    assert store.effects(job.id) == {}
    drift = store.events(job.id)[-1]
    assert drift.kind == "drift" and drift.data["files"] == ["a.py"]


def test_a_rate_limit_requeue_spends_no_attempt(store: Store) -> None:
    store.enqueue(new_job(), now=100.0)
    (lease,) = store.claim("w1", Phase.RUN, now=100.0)
    job = store.requeue(
        lease.job_id, lease.token, phase=Phase.RUN, reason="rate_limited", delay=60.0, now=100.0
    )
    assert job.attempts == 0 and job.run_after == pytest.approx(160.0)


@pytest.mark.parametrize(
    ("reason", "cap", "code"),
    [("drift", "max_drifts", "too_many_drifts"), ("rate_limited", "max_waits", "too_many_waits")],
)
def test_drifts_and_waits_have_caps_of_their_own(
    store: Store, reason: str, cap: str, code: str
) -> None:
    setattr(store, cap, 2)
    store.enqueue(new_job(), now=0.0)
    for n in range(3):
        (lease,) = store.claim("w", Phase.RUN, now=float(n))
        job = store.requeue(lease.job_id, lease.token, phase=Phase.RUN, reason=reason, now=n)
    assert job.state is JobState.TOMBSTONED and job.attempts == 0
    tombstone = store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == code
    assert "3 times, more than the 2 allowed" in tombstone.summary
    # A maintainer's retry starts the count again.
    store.retry(job.id, actor="maintainer")
    (lease,) = store.claim("w", Phase.RUN)
    job = store.requeue(lease.job_id, lease.token, phase=Phase.RUN, reason=reason)
    assert job.state is JobState.QUEUED


def test_events_are_only_appended(store: Store) -> None:
    store.enqueue(new_job())
    before = store.events("job0001")
    (lease,) = store.claim("w1", Phase.RUN)
    store.complete(lease.job_id, lease.token)
    after = store.events("job0001")
    assert after[: len(before)] == before


def test_unknown_job_is_a_clear_error(store: Store) -> None:
    with pytest.raises(JobNotFound, match="no job 'nope'"):
        store.get("nope")
    store.enqueue(new_job(1))
    store.enqueue(new_job(2))
    assert store.find("job0001").id == "job0001"
    with pytest.raises(JobNotFound, match="several"):
        store.find("job")


def test_outbox_items_are_claimed_once_and_retried_with_backoff(outbox) -> None:
    assert outbox.put(key="r1", kind="reaction", job_id=None, payload={"c": 1})
    assert not outbox.put(key="r1", kind="reaction", job_id=None, payload={"c": 2})
    (item,) = outbox.claim("w1")
    assert outbox.claim("w2") == []
    assert outbox.failed(item, "GitHub 502") == "pending"
    assert outbox.claim("w2") == []  # backing off
    (again,) = outbox.claim("w2", now=10**10)
    assert again.attempts == 2 and again.payload == {"c": 1}
    outbox.done(again)
    assert outbox.pending_count() == 0


def test_reads_do_not_wait_for_a_writer(store: Store) -> None:
    import threading

    store.enqueue(new_job())
    seen: list[str] = []
    with store.db.transaction() as conn:  # a writer holds the database
        updated = conn.exec_driver_sql("UPDATE jobs SET requester = 'x'")
        assert updated.rowcount == 1
        reader = threading.Thread(target=lambda: seen.append(store.get("job0001").state.value))
        reader.start()
        reader.join(timeout=10)
        assert seen == ["queued"]  # answered while the write transaction was still open
