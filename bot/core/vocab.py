"""The words Farcaster stores: event kinds, job modes, outbox kinds, delivery outcomes.

Each is a ``StrEnum`` stored as its value, so a member compares equal to the string in a
row and the database needs no migration when code starts using the type. A new word is
added here first; nothing else spells one out. Job states and phases live beside the job
record (:mod:`bot.core.records`), repository permissions in :mod:`bot.core.permissions`.
"""

import enum


class EventKind(enum.StrEnum):
    """A line of a job's trail (``job_events.kind``); the comment says who appends it."""

    CREATED = "created"  # intake, with the job
    CLAIMED = "claimed"  # a worker's claim of one phase; it spends no attempt
    LEASE_EXPIRED = "lease_expired"  # the holder's lease ran out: that attempt counts as failed
    FENCED_WRITE_REJECTED = "fenced_write_rejected"  # a stale holder tried to write
    BASE_RESOLVED = "base_resolved"  # the runner chose the base branch and commit
    PROPOSAL_STORED = "proposal_stored"  # the runner stored the agent's diff
    BASE_READ_FROM_API = "base_read_from_api"  # the interpreter read some base files via the API
    DRIFT_CHECKED = "drift_checked"  # the interpreter compared the base with its head
    EFFECT = "effect"  # the interpreter did one GitHub step (branch, commit, PR, ...)
    REVIEWERS_REFUSED = "reviewers_refused"  # GitHub refused some requested reviewers
    EGRESS_BLOCKED = "egress_blocked"  # the sandbox's egress proxy refused a connection
    COMPLETED = "completed"  # the pull request exists
    PLANNED = "planned"  # the plan was posted
    ATTEMPT_FAILED = "attempt_failed"  # an attempt ended badly; retried or tombstoned
    TOMBSTONED = "tombstoned"  # the job will not be retried by itself
    # Requeued to a phase's queue; the kind is the reason.
    DRIFT = "drift"  # the base branch changed a file the diff touches
    RATE_LIMITED = "rate_limited"  # GitHub asked us to wait
    PACED = "paced"  # the installation's shared write bucket asked us to wait (no request sent)
    GITHUB_AUTH = "github_auth"  # GitHub refused the App's credentials; they may heal
    PROPOSAL_CHANGED = "proposal_changed"  # the stored proposal differs from the ledger's
    # On a proposal (the parent job), about its branch; the latest of the two is in force.
    REFRESH_PAUSED = "refresh_paused"  # a human pushed to the proposal: its branch is kept
    REFRESHED = "refreshed"  # a refresh replaced the branch on the base's head
    # What people did.
    CANCELLED = "cancelled"
    RETRIED = "retried"
    APPLY_REQUESTED = "apply_requested"
    REPLAY_REQUESTED = "replay_requested"
    PR_MERGED = "pr_merged"
    PR_CLOSED_BY_HUMAN = "pr_closed_by_human"


class JobMode(enum.StrEnum):
    """What a job publishes (``jobs.mode``)."""

    PR = "pr"  # a pull request
    PLAN = "plan"  # the diff in a comment; `/farcaster apply` turns it into PR mode
    REFRESH = "refresh"  # a proposal's command chain again on its base's head, force-moved


class PrOutcome(enum.StrEnum):
    """What a human did with the job's pull request (``jobs.outcome``)."""

    MERGED = "merged"
    CLOSED_BY_HUMAN = "closed_by_human"

    @property
    def event(self) -> EventKind:
        return EventKind(f"pr_{self.value}")


class OutboxKind(enum.StrEnum):
    """A GitHub call queued for the outbox workers (``outbox.kind``)."""

    REACTION = "reaction"  # a reaction on the command's comment
    REPLY = "reply"  # a reply comment (refusals, status answers)
    JOB_REPORT = "job_report"  # the job's final report (status comment, check run)
    STATUS_COMMENT = "status_comment"  # the status comment's edit to queued, running, applying


class DeliveryOutcome(enum.StrEnum):
    """How a webhook delivery was decided (``deliveries.outcome`` and the metrics label)."""

    JOB_CREATED = "job_created"
    JOB_EXISTS = "job_exists"  # an earlier delivery about the same comment created it
    JOB_ACTION = "job_action"  # cancel, retry, apply, ... on an existing job
    REPLIED = "replied"
    REFUSED = "refused"
    RECORDED = "recorded"
    IGNORED = "ignored"
    PING = "ping"
