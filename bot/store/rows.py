"""Turning result rows into the frozen records of bot/core/records.py."""

from collections.abc import Mapping
from typing import Any

from bot.core.records import Effect, Event, Job, JobState, ProposalRecord, Tombstone
from bot.core.vocab import EventKind, JobMode, PrOutcome

JOB_COLUMNS = (
    "id, idempotency_key, repo, installation_id, issue_number, is_pull_request, requester, "
    "command, agent, mode, base_ref, base_sha, state, attempts, max_attempts, run_after, "
    "lease_owner, lease_expires_at, fencing_token, check_run_id, comment_id, pr_number, pr_url, "
    "outcome, last_error, created_at, updated_at, parent_id, revision"
)


def _json(value: Any) -> Any:
    # SQLAlchemy's JSON type decodes for ORM/Core columns; raw text() queries on SQLite
    # return the encoded string.
    if isinstance(value, str):
        import json

        return json.loads(value)
    return value


def job_from_row(row: Mapping[Any, Any]) -> Job:
    return Job(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        repo=row["repo"],
        installation_id=row["installation_id"],
        issue_number=row["issue_number"],
        is_pull_request=bool(row["is_pull_request"]),
        requester=row["requester"],
        command=_json(row["command"]) or {},
        agent=row["agent"],
        mode=JobMode(row["mode"]),
        base_ref=row["base_ref"],
        base_sha=row["base_sha"],
        state=JobState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=row["run_after"],
        lease_owner=row["lease_owner"],
        lease_expires_at=row["lease_expires_at"],
        fencing_token=row["fencing_token"],
        check_run_id=row["check_run_id"],
        comment_id=row["comment_id"],
        pr_number=row["pr_number"],
        pr_url=row["pr_url"],
        outcome=PrOutcome(row["outcome"]) if row["outcome"] else None,
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        parent_id=row["parent_id"],
        revision=row["revision"],
    )


def event_from_row(row: Mapping[Any, Any]) -> Event:
    return Event(
        id=row["id"],
        job_id=row["job_id"],
        at=row["at"],
        kind=EventKind(row["kind"]),
        attempt=row["attempt"],
        fencing_token=row["fencing_token"],
        data=_json(row["data"]) or {},
    )


def proposal_from_row(row: Mapping[Any, Any]) -> ProposalRecord:
    return ProposalRecord(
        id=row["id"],
        job_id=row["job_id"],
        attempt=row["attempt"],
        fencing_token=row["fencing_token"],
        base_sha=row["base_sha"],
        diff=row["diff"],
        diff_sha256=row["diff_sha256"],
        files_changed=row["files_changed"],
        additions=row["additions"],
        deletions=row["deletions"],
        agent=row["agent"],
        agent_version=row["agent_version"],
        agent_log=row["agent_log"],
        verify=_json(row["verify"]),
        created_at=row["created_at"],
    )


def effect_from_row(row: Mapping[Any, Any]) -> Effect:
    return Effect(
        job_id=row["job_id"],
        step=row["step"],
        result=_json(row["result"]) or {},
        fencing_token=row["fencing_token"],
        created_at=row["created_at"],
    )


def tombstone_from_row(row: Mapping[Any, Any]) -> Tombstone:
    return Tombstone(
        job_id=row["job_id"],
        reason_code=row["reason_code"],
        summary=row["summary"],
        trail=_json(row["trail"]) or [],
        comment_id=row["comment_id"],
        created_at=row["created_at"],
    )
