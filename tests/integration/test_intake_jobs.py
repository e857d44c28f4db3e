"""Commands that act on existing jobs: retry, cancel, apply, status; and check run re-runs."""

import copy

from bot.core.records import Failure, JobState, NewProposal, Phase
from tests.integration.test_intake_support import (
    MASTER_SHA,
    REPO,
    Intake,
    comment_payload,
    engine_independent,
    sample,
)

DIFF = "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+b = 1\n"


def new_job(intake: Intake, command: str = "/farcaster rename a b") -> str:
    response = intake.comment(command)
    assert response.json()["outcome"] == "job_created"
    return str(response.json()["job_id"])


def tombstone(intake: Intake, job_id: str) -> None:
    store = intake.runtime.store
    (lease,) = store.claim("w", Phase.RUN)
    assert lease.job_id == job_id
    store.fail(job_id, lease.token, Failure("agent_failed", "no such symbol", retryable=False))


def plan(intake: Intake, job_id: str) -> None:
    store = intake.runtime.store
    (lease,) = store.claim("w", Phase.RUN)
    store.store_proposal(job_id, lease.token, NewProposal(MASTER_SHA, DIFF, "rename", "1"))
    (lease,) = store.claim("w", Phase.APPLY)
    store.complete(job_id, lease.token, state=JobState.PLANNED)


def last_reply(intake: Intake) -> str:
    return str(intake.outbox("reply")[-1]["payload"]["body"])


def test_retry_requeues_a_tombstoned_job_and_reacts(intake):
    job_id = new_job(intake)
    tombstone(intake, job_id)
    reactions = len(intake.outbox("reaction"))

    response = intake.comment(f"/farcaster retry {job_id}")

    assert response.json()["outcome"] == "job_action"
    assert response.json()["job_id"] == job_id
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED
    assert [e.kind for e in intake.runtime.store.events(job_id)][-1] == "retried"
    assert len(intake.outbox("reaction")) == reactions + 1


@engine_independent
def test_a_job_id_prefix_is_enough(intake):
    job_id = new_job(intake)
    tombstone(intake, job_id)
    intake.comment(f"/farcaster retry {job_id[:6]}")
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED


def test_retry_of_a_queued_job_changes_nothing_and_says_so(intake):
    job_id = new_job(intake)
    response = intake.comment(f"/farcaster retry {job_id}")
    assert response.json()["outcome"] == "replied"
    assert "changes nothing" in last_reply(intake)
    assert "queued" in last_reply(intake)
    assert [e.kind for e in intake.runtime.store.events(job_id)] == ["created"]


def test_cancel_cancels_a_queued_job(intake):
    job_id = new_job(intake)
    response = intake.comment(f"/farcaster cancel {job_id}")
    assert response.json()["outcome"] == "job_action"
    job = intake.runtime.store.get(job_id)
    assert job.state is JobState.CANCELLED
    cancelled = intake.runtime.store.events(job_id)[-1]
    assert cancelled.kind == "cancelled"
    assert cancelled.data["actor"] == "writer"


def test_apply_turns_a_plan_into_a_pull_request_job(intake):
    job_id = new_job(intake, "/farcaster plan rename a b")
    plan(intake, job_id)
    response = intake.comment(f"/farcaster apply {job_id}")
    assert response.json()["outcome"] == "job_action"
    job = intake.runtime.store.get(job_id)
    assert (job.state, job.mode) == (JobState.PROPOSED, "pr")


def test_apply_of_a_job_that_is_not_a_plan_changes_nothing(intake):
    job_id = new_job(intake)
    intake.comment(f"/farcaster apply {job_id}")
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED
    assert "`apply` changes nothing" in last_reply(intake)


def test_a_reader_cannot_cancel_a_job(intake):
    job_id = new_job(intake)
    response = intake.comment(f"/farcaster cancel {job_id}", user="reader")
    assert response.json()["outcome"] == "refused"
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED


@engine_independent
def test_an_unknown_job_gets_a_reply(intake):
    response = intake.comment("/farcaster cancel deadbeef")
    assert response.json()["outcome"] == "replied"
    assert "There is no job 'deadbeef'" in last_reply(intake)


def test_a_job_of_another_repository_cannot_be_touched_from_here(intake):
    job_id = new_job(intake)
    payload = comment_payload(f"/farcaster cancel {job_id}")
    payload["repository"]["full_name"] = "someone/else"
    response = intake.post(payload)
    assert response.json()["outcome"] == "replied"
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED
    assert f"There is no job `{job_id}` in this repository" in last_reply(intake)


def test_status_of_a_job_replies_with_its_state(intake):
    job_id = new_job(intake)
    response = intake.comment(f"/farcaster status {job_id}")
    assert response.json()["outcome"] == "replied"
    assert response.json()["job_id"] == job_id
    assert f"`{job_id}` (rename) is **queued**" in last_reply(intake)


def test_status_without_a_job_lists_the_jobs_of_the_issue(intake):
    first = new_job(intake, "/farcaster rename a b")
    second = new_job(intake, "/farcaster replace x y")
    other_issue = intake.comment("/farcaster rename c d", issue_number=5).json()["job_id"]
    intake.comment("/farcaster status")
    body = last_reply(intake)
    assert first in body and second in body
    assert other_issue not in body


@engine_independent
def test_a_readers_status_request_is_refused(intake):
    intake.comment("/farcaster status", user="reader")
    assert "only people with write access" in last_reply(intake)


def test_a_redelivered_cancel_acts_once(intake):
    job_id = new_job(intake)
    payload = comment_payload(f"/farcaster cancel {job_id}")
    intake.post(payload, delivery_id="c-1")
    intake.runtime.store.retry(job_id, actor="someone")  # revived in between
    second = intake.post(payload, delivery_id="c-2")  # another delivery, same comment
    assert second.json()["outcome"] == "ignored"
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED


# -- check runs -----------------------------------------------------------------------------


def rerequest(intake: Intake, external_id: str, *, user: str = "writer", app_id: int = 1):
    payload = copy.deepcopy(sample("check_run.rerequested.json"))
    payload["check_run"]["external_id"] = external_id
    payload["check_run"]["app"]["id"] = app_id
    payload["repository"]["full_name"] = REPO
    payload["sender"]["login"] = user
    return intake.post(payload, event="check_run")


def test_rerunning_our_check_run_retries_the_job(intake):
    job_id = new_job(intake)
    tombstone(intake, job_id)
    response = rerequest(intake, job_id)
    assert response.status_code == 202
    assert response.json()["outcome"] == "job_action"
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED
    retried = intake.runtime.store.events(job_id)[-1]
    assert (retried.kind, retried.data["actor"], retried.data["phase"]) == (
        "retried",
        "writer",
        "run",
    )


@engine_independent
def test_a_check_run_rerun_by_a_reader_is_refused(intake):
    job_id = new_job(intake)
    tombstone(intake, job_id)
    assert rerequest(intake, job_id, user="reader").json()["outcome"] == "refused"
    assert intake.runtime.store.get(job_id).state is JobState.TOMBSTONED


@engine_independent
def test_check_runs_of_other_apps_or_without_a_job_are_ignored(intake):
    job_id = new_job(intake)
    assert rerequest(intake, job_id, app_id=999).json()["outcome"] == "ignored"
    assert rerequest(intake, "").json()["outcome"] == "ignored"
    assert rerequest(intake, "feedfacecafe").json()["reason"] == "there is no job 'feedfacecafe'"
