"""The schema, in one place. Alembic creates it; nothing else does (see migrations/).

Times are seconds since the epoch as doubles (``*_at``), read from the database clock,
so that runners on several machines agree and SQLite and PostgreSQL compare them alike.
JSON columns hold small documents; secrets never enter any of them.

No ``from __future__ import annotations`` here: SQLModel reads the annotations at runtime.
"""

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    LargeBinary,
    MetaData,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

# A naming convention makes constraint names identical on both engines, which Alembic's
# batch mode on SQLite and the drift test both need.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class Delivery(SQLModel, table=True):
    """Every accepted webhook delivery: written by intake before its 202, decided by triage.

    ``state``: ``undecided`` (accepted, waiting for triage; a lease and ``run_after`` say who
    holds it and when it may run), ``decided`` (``outcome`` says what it caused) or ``failed``
    (a permanent failure; ``reason`` says why). ``body`` is the raw body, zlib-compressed
    (``body_compressed``) from the moment the delivery is settled until the retention period
    empties it; on PostgreSQL intake stores it raw, as received, and triage compresses it in
    the transaction that settles it (bot/store/deliveries.py, Body). On PostgreSQL its
    storage is EXTERNAL (migration 0007): out of line, never compressed again by the server.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_run_after", "state", "run_after"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(max_length=100, unique=True)
    event: str = Field(max_length=100)
    action: str | None = Field(default=None, max_length=100)
    installation_id: int | None = Field(default=None, sa_type=BigInteger)
    repo: str | None = Field(default=None, max_length=300)
    payload_sha256: str = Field(max_length=64)
    received_at: float = Field(sa_type=Float)
    state: str = Field(default="decided", max_length=20)
    outcome: str | None = Field(default=None, max_length=40)  # job_created | ignored | ...
    reason: str | None = Field(default=None, sa_type=Text)
    job_id: str | None = Field(default=None, max_length=40, index=True)
    attempts: int = Field(default=0)
    run_after: float = Field(default=0.0, sa_type=Float)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: float | None = Field(default=None, sa_type=Float)
    fencing_token: int = Field(default=0, sa_type=BigInteger)
    last_error: str | None = Field(default=None, sa_type=Text)
    decided_at: float | None = Field(default=None, sa_type=Float)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    body_compressed: bool = Field(default=True)


class DeliveryRecoveryRow(SQLModel, table=True):
    """A delivery GitHub failed to hand over, which the recovery sweep asked it to redeliver.

    Append-only: one row per redelivery asked for (``guid`` is the ``X-GitHub-Delivery``).
    """

    __tablename__ = "delivery_recoveries"

    id: int | None = Field(default=None, primary_key=True)
    guid: str = Field(max_length=100, index=True)
    hook_delivery_id: int = Field(sa_type=BigInteger)
    event: str = Field(max_length=100)
    action: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=200)  # GitHub's status of the failed attempt
    outcome: str = Field(max_length=40)  # redelivery_requested | redelivery_refused
    reason: str | None = Field(default=None, sa_type=Text)
    at: float = Field(sa_type=Float)


class RecoveryWatermarkRow(SQLModel, table=True):
    """How far back the recovery sweep has read GitHub's list of deliveries, per App."""

    __tablename__ = "recovery_watermarks"

    name: str = Field(primary_key=True, max_length=100)
    hook_delivery_id: int = Field(sa_type=BigInteger)
    updated_at: float = Field(sa_type=Float)


class SweepScheduleRow(SQLModel, table=True):
    """When a periodic sweep may next run, whichever process runs it (one per interval)."""

    __tablename__ = "sweep_schedule"

    name: str = Field(primary_key=True, max_length=100)
    owner: str | None = Field(default=None, max_length=200)  # who took the last turn
    next_at: float = Field(sa_type=Float)


class JobRow(SQLModel, table=True):
    """One requested refactor, from intake to its pull request or its tombstone."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query: runnable jobs of a state, oldest first ...
        Index("ix_jobs_state_run_after", "state", "run_after"),
        # ... and leases that have run out, which the same query reclaims.
        Index("ix_jobs_state_lease_expires_at", "state", "lease_expires_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    idempotency_key: str = Field(max_length=200, unique=True)
    repo: str = Field(max_length=300, index=True)
    installation_id: int | None = Field(default=None, sa_type=BigInteger)
    issue_number: int | None = Field(default=None)
    is_pull_request: bool = Field(default=False)
    requester: str | None = Field(default=None, max_length=100)
    command: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    agent: str = Field(max_length=100)
    mode: str = Field(default="pr", max_length=20)  # pr | plan
    base_ref: str | None = Field(default=None, max_length=300)
    base_sha: str | None = Field(default=None, max_length=64)
    state: str = Field(max_length=20)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=5)
    run_after: float = Field(sa_type=Float)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: float | None = Field(default=None, sa_type=Float)
    fencing_token: int = Field(default=0, sa_type=BigInteger)
    check_run_id: int | None = Field(default=None, sa_type=BigInteger)
    comment_id: int | None = Field(default=None, sa_type=BigInteger)
    pr_number: int | None = Field(default=None)
    pr_url: str | None = Field(default=None, max_length=500)
    outcome: str | None = Field(default=None, max_length=40)  # merged | closed_by_human
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: float = Field(sa_type=Float)
    updated_at: float = Field(sa_type=Float)
    # A revision job adds one commit to its parent's pull request; revisions count from 1.
    parent_id: str | None = Field(default=None, max_length=40, index=True)
    revision: int | None = Field(default=None)


class JobEventRow(SQLModel, table=True):
    """The append-only trail. Never updated, never deleted."""

    __tablename__ = "job_events"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=40, index=True)
    at: float = Field(sa_type=Float)
    # Indexed: /metrics counts events by kind (lease expiries, fenced refusals) at scrape time.
    kind: str = Field(max_length=60, index=True)
    attempt: int = Field(default=0)
    fencing_token: int = Field(default=0, sa_type=BigInteger)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ProposalRow(SQLModel, table=True):
    """An agent's diff, stored before anything touches GitHub. Append-only."""

    __tablename__ = "proposals"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=40, index=True)
    attempt: int
    fencing_token: int = Field(sa_type=BigInteger)
    base_sha: str = Field(max_length=64)
    diff: str = Field(sa_type=Text)
    diff_sha256: str = Field(max_length=64)
    files_changed: int
    additions: int
    deletions: int
    agent: str = Field(max_length=100)
    agent_version: str = Field(max_length=100)
    agent_log: str = Field(default="", sa_type=Text)
    verify: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: float = Field(sa_type=Float)


class EffectRow(SQLModel, table=True):
    """A GitHub side effect already done for a job; replays read it before acting."""

    __tablename__ = "effects"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=40, index=True)
    step: str = Field(max_length=60)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fencing_token: int = Field(sa_type=BigInteger)
    created_at: float = Field(sa_type=Float)


class TombstoneRow(SQLModel, table=True):
    """A job that will not be retried, with its final trail and the report comment.

    Append-only like the events: a job revived by ``retry`` that dies again gets a second row.
    """

    __tablename__ = "tombstones"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=40, index=True)
    reason_code: str = Field(max_length=60)
    summary: str = Field(sa_type=Text)
    trail: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    comment_id: int | None = Field(default=None, sa_type=BigInteger)
    created_at: float = Field(sa_type=Float)


class OutboxRow(SQLModel, table=True):
    """GitHub calls that must not happen inside a webhook request: reactions, replies, reports.

    Each has an idempotency ``key``; workers lease and drain it like jobs.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_run_after", "state", "run_after"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40)
    job_id: str | None = Field(default=None, max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=20)  # pending | done | dead
    attempts: int = Field(default=0)
    run_after: float = Field(sa_type=Float)
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: float | None = Field(default=None, sa_type=Float)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: float = Field(sa_type=Float)


class PacingBucketRow(SQLModel, table=True):
    """One installation's allowance of content-creating GitHub requests (a token bucket).

    Every worker shares it: ``tokens`` as of ``updated_at`` (the database clock), refilled at
    the configured rate up to the burst. See bot/store/pacing.py.
    """

    __tablename__ = "pacing_buckets"

    installation_id: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    tokens: float = Field(sa_type=Float)
    updated_at: float = Field(sa_type=Float)
