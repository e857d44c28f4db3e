"""Factories for the records tests build by hand: jobs as the store returns them (``make_job``)
and as intake asks for them (``new_job``)."""

from typing import Any

from bot.core.records import Job, JobState, NewJob
from bot.core.vocab import JobMode

NOW = 1_800_000_000.0
BASE = "b" * 40


def make_job(**overrides: Any) -> Job:
    values: dict[str, Any] = dict(
        id="0a1b2c3d4e5f",
        idempotency_key="comment:x",
        repo="octo/demo",
        installation_id=42,
        issue_number=7,
        is_pull_request=False,
        requester="alice",
        command={"name": "rename", "old": "old_name", "new": "new_name", "paths": []},
        agent="rename",
        mode=JobMode.PR,
        base_ref="main",
        base_sha=BASE,
        state=JobState.QUEUED,
        attempts=1,
        max_attempts=5,
        run_after=NOW,
        lease_owner=None,
        lease_expires_at=None,
        fencing_token=1,
        check_run_id=None,
        comment_id=None,
        pr_number=None,
        pr_url=None,
        outcome=None,
        last_error=None,
        created_at=NOW - 60,
        updated_at=NOW,
    )
    values.update(overrides)
    return Job(**values)


def new_job(n: int = 1, **overrides: Any) -> NewJob:
    """What intake asks the store for: job ``n`` of a test (``job0001``), a rename on main."""
    values: dict[str, Any] = dict(
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
