"""Frozen value objects that cross layers. ORM rows stay inside the store."""

import enum
from dataclasses import dataclass, field
from typing import Any

from bot.core.vocab import EventKind, JobMode, PrOutcome


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waiting for a runner; a runner's claim moves it to RUNNING
    RUNNING = "running"  # a runner holds the lease; it stores a proposal or fails the attempt
    PROPOSED = "proposed"  # a proposal is stored; an interpreter's claim moves it to APPLYING
    APPLYING = "applying"  # an interpreter holds the lease; it completes, re-queues or fails
    PLANNED = "planned"  # a plan was posted; `/farcaster apply` moves it back to PROPOSED
    DONE = "done"  # the pull request exists; final
    TOMBSTONED = "tombstoned"  # will not be retried by itself; `retry` revives it
    CANCELLED = "cancelled"  # `/farcaster cancel`; `retry` revives it

    @property
    def is_final(self) -> bool:
        return self in (JobState.DONE, JobState.TOMBSTONED, JobState.CANCELLED)


class Phase(enum.StrEnum):
    """Which kind of worker a job waits for. Each has a ready state and a leased state."""

    RUN = "run"
    APPLY = "apply"

    @classmethod
    def of(cls, state: JobState) -> "Phase":
        """The phase a job in ``state`` waits for or is in; a final or planned job has none."""
        for phase in cls:
            if state in (phase.ready_state, phase.leased_state):
                return phase
        raise ValueError(f"a {state} job is in no phase")

    @property
    def ready_state(self) -> JobState:
        return JobState.QUEUED if self is Phase.RUN else JobState.PROPOSED

    @property
    def leased_state(self) -> JobState:
        return JobState.RUNNING if self is Phase.RUN else JobState.APPLYING


LEASED_STATES = (JobState.RUNNING, JobState.APPLYING)


@dataclass(frozen=True)
class NewJob:
    """What intake knows about a job before it exists."""

    id: str
    idempotency_key: str
    repo: str
    agent: str
    command: dict[str, Any]
    installation_id: int | None = None
    issue_number: int | None = None
    is_pull_request: bool = False
    requester: str | None = None
    mode: JobMode = JobMode.PR
    base_ref: str | None = None
    base_sha: str | None = None
    max_attempts: int | None = None
    parent_id: str | None = None  # a revision (or refresh) of that job's pull request
    revision: int | None = None
    run_after: float | None = None  # not before this time (a deferred refresh); None: now


@dataclass(frozen=True)
class Job:
    id: str
    idempotency_key: str
    repo: str
    installation_id: int | None
    issue_number: int | None
    is_pull_request: bool
    requester: str | None
    command: dict[str, Any]
    agent: str
    mode: JobMode
    base_ref: str | None
    base_sha: str | None
    state: JobState
    attempts: int
    max_attempts: int
    run_after: float
    lease_owner: str | None
    lease_expires_at: float | None
    fencing_token: int
    check_run_id: int | None
    comment_id: int | None
    pr_number: int | None
    pr_url: str | None
    outcome: PrOutcome | None
    last_error: str | None
    created_at: float
    updated_at: float
    parent_id: str | None = None
    revision: int | None = None

    @property
    def attempt(self) -> int:
        """The number of the attempt in progress (or the next one): ``attempts`` counts only
        attempts that failed or lost their lease, so claims and phase changes spend none."""
        return self.attempts + 1

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def branch(self) -> str:
        """The proposal's branch; a revision commits to its parent's."""
        return f"farcaster/{self.parent_id or self.id}"

    @property
    def is_revision(self) -> bool:
        return self.parent_id is not None


def display_state(job: Job, now: float) -> str:
    """The job's state as people see it: a waiting job whose start is in the future is
    ``scheduled`` (backoff after a failure, or a GitHub rate limit)."""
    if job.state in (JobState.QUEUED, JobState.PROPOSED) and job.run_after > now:
        return "scheduled"
    return job.state.value


@dataclass(frozen=True)
class Lease:
    """A claim: the job as claimed, and the fencing token every write must carry."""

    job: Job
    token: int
    expires_at: float
    owner: str

    @property
    def job_id(self) -> str:
        return self.job.id


@dataclass(frozen=True)
class Event:
    id: int
    job_id: str
    at: float
    kind: EventKind
    attempt: int
    fencing_token: int
    data: dict[str, Any]


@dataclass(frozen=True)
class NewProposal:
    base_sha: str
    diff: str
    agent: str
    agent_version: str
    agent_log: str = ""
    verify: dict[str, Any] | None = None


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    job_id: str
    attempt: int
    fencing_token: int
    base_sha: str
    diff: str
    diff_sha256: str
    files_changed: int
    additions: int
    deletions: int
    agent: str
    agent_version: str
    agent_log: str
    verify: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True)
class Effect:
    job_id: str
    step: str
    result: dict[str, Any]
    fencing_token: int
    created_at: float


@dataclass(frozen=True)
class Tombstone:
    job_id: str
    reason_code: str
    summary: str
    trail: list[dict[str, Any]]
    comment_id: int | None
    created_at: float


@dataclass(frozen=True)
class Failure:
    """Why an attempt ended badly, as the store records it."""

    reason_code: str
    message: str
    retryable: bool
    retry_after: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
