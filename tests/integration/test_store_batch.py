"""Batched lease paths on SQLite and PostgreSQL: ``complete_many`` and multi-job claims.

A runner with free slots claims several jobs in one statement and finishes several in one
statement (the worker loop's ``complete_many``); fencing still holds job by job.
"""

import pytest

from bot.core.errors import StaleFencingToken, StoreError
from bot.core.records import Event, JobState, NewJob, Phase
from bot.store import Store
from bot.store.statements import Completion


def new_job(n: int) -> NewJob:
    return NewJob(
        id=f"job{n:04d}",
        idempotency_key=f"comment:{n}",
        repo="octo/widgets",
        agent="replace",
        command={"name": "replace", "pattern": "a", "replacement": "b", "paths": []},
    )


def events_of_kind(store: Store, job_id: str, kind: str) -> list[Event]:
    return [e for e in store.events(job_id) if e.kind == kind]


def test_complete_many_finishes_each_current_lease_with_one_event(store: Store) -> None:
    for n in range(3):
        store.enqueue(new_job(n), now=100.0 + n)
    leases = store.claim("w1", Phase.RUN, limit=3, now=200.0)
    done = store.complete_many(
        [
            Completion(leases[0].job_id, leases[0].token),
            Completion(leases[1].job_id, leases[1].token, JobState.PLANNED, {"check_run_id": 9}),
            Completion(leases[2].job_id, leases[2].token, data={"pr_number": 3}),
        ],
        now=201.0,
    )
    assert done == [None, None, None]
    assert [store.get(lease.job_id).state for lease in leases] == [
        JobState.DONE,
        JobState.PLANNED,
        JobState.DONE,
    ]
    for lease, kind, data in zip(
        leases,
        ["completed", "planned", "completed"],
        [{}, {"check_run_id": 9}, {"pr_number": 3}],
        strict=True,
    ):
        job = store.get(lease.job_id)
        assert job.lease_owner is None and job.lease_expires_at is None
        assert job.updated_at == 201.0
        (event,) = events_of_kind(store, lease.job_id, kind)
        assert (event.fencing_token, event.attempt, event.at) == (lease.token, 1, 201.0)
        assert event.data == data


def test_complete_many_refuses_a_stale_holder_without_holding_back_the_others(
    store: Store,
) -> None:
    store.enqueue(new_job(0), now=1000.0)
    store.enqueue(new_job(1), now=1000.0)
    stale, kept = store.claim("w1", Phase.RUN, limit=2, now=1000.0)
    # w1 paused: job0000's lease ran out and w2 reclaimed it (job0001 was heartbeaten).
    assert store.heartbeat(kept.job_id, kept.token, now=1020.0)
    (fresh,) = store.claim("w2", Phase.RUN, now=1031.0)
    assert fresh.job_id == stale.job_id

    refused, done = store.complete_many(
        [Completion(stale.job_id, stale.token), Completion(kept.job_id, kept.token)]
    )

    assert isinstance(refused, StaleFencingToken)
    assert done is None
    assert store.get(kept.job_id).state is JobState.DONE
    job = store.get(stale.job_id)
    assert job.state is JobState.RUNNING and job.lease_owner == "w2"
    assert events_of_kind(store, stale.job_id, "completed") == []
    (rejected,) = events_of_kind(store, stale.job_id, "fenced_write_rejected")
    assert rejected.fencing_token == stale.token
    assert rejected.data["step"] == "complete"
    assert rejected.data["current_token"] == fresh.token
    # The new holder's own completion still goes through.
    assert store.complete(fresh.job_id, fresh.token).state is JobState.DONE


def test_complete_refuses_a_job_that_left_its_lease(store: Store) -> None:
    store.enqueue(new_job(0))
    (lease,) = store.claim("w1", Phase.RUN)
    store.cancel(lease.job_id, actor="maintainer")
    with pytest.raises(StaleFencingToken):
        store.complete(lease.job_id, lease.token)
    assert store.get(lease.job_id).state is JobState.CANCELLED
    assert len(events_of_kind(store, lease.job_id, "fenced_write_rejected")) == 1


def test_complete_many_takes_each_job_once(store: Store) -> None:
    assert store.complete_many([]) == []
    store.enqueue(new_job(0))
    (lease,) = store.claim("w1", Phase.RUN)
    with pytest.raises(StoreError):
        store.complete_many([Completion(lease.job_id, lease.token)] * 2)
    assert store.get(lease.job_id).state is JobState.RUNNING


def test_claim_mixes_expired_leases_and_ready_jobs_oldest_first(store: Store) -> None:
    store.enqueue(new_job(0), now=100.0)
    store.claim("w1", Phase.RUN, now=100.0)  # job0000, lease expires at 130
    store.enqueue(new_job(1), now=99.0)  # ready, and older than job0000
    store.enqueue(new_job(2), now=150.0)  # ready, and newer
    leases = store.claim("w2", Phase.RUN, limit=3, now=200.0)
    assert [(lease.job_id, lease.token) for lease in leases] == [
        ("job0001", 1),
        ("job0000", 2),
        ("job0002", 1),
    ]
    kinds = [e.kind for e in store.events("job0000")]
    assert kinds == ["created", "claimed", "lease_expired", "claimed"]


def test_claim_takes_no_more_than_its_limit_across_both_kinds(store: Store) -> None:
    for n in range(3):
        store.enqueue(new_job(n), now=100.0 + n)
    (expired,) = store.claim("w1", Phase.RUN, limit=1, now=100.0)  # job0000, expires 130
    leases = store.claim("w2", Phase.RUN, limit=2, now=200.0)
    assert [lease.job_id for lease in leases] == [expired.job_id, "job0001"]
    assert store.get("job0002").state is JobState.QUEUED


def test_claim_events_carry_the_same_data_on_both_engines(store: Store) -> None:
    store.enqueue(new_job(0), now=100.0)
    store.claim("w1", Phase.RUN, now=100.0)  # expires at 130
    (lease,) = store.claim("w2", Phase.RUN, now=140.5)
    expired, claimed = store.events(lease.job_id)[2:]
    assert (expired.kind, expired.at, expired.attempt, expired.fencing_token) == (
        "lease_expired",
        140.5,
        1,
        1,
    )
    assert expired.data == {"owner": "w1", "expired_at": 130.0}
    assert (claimed.kind, claimed.at, claimed.attempt, claimed.fencing_token) == (
        "claimed",
        140.5,
        2,
        2,
    )
    assert claimed.data == {
        "phase": "run",
        "owner": "w2",
        "lease_expires_at": 170.5,
        "previous_owner": "w1",
        "previous_lease_expires_at": 130.0,
    }
    assert store.events(lease.job_id)[1].data["previous_owner"] is None
