"""The job store: one API over SQLite and PostgreSQL.

Every method is one transaction. Every transition appends its event in that same
transaction. Every write that finishes work carries the fencing token and is refused with
:class:`~bot.core.errors.StaleFencingToken` (and a ``fenced_write_rejected`` event) when a newer
holder owns the job. Events and proposals are only ever inserted; a tombstone is inserted
and later gets one update, the id of its report comment (``set_tombstone_comment``).
Completions can be finished several at once, in one statement (:meth:`Store.complete_many`,
which the worker loop uses); each is still fenced by its own token.

The job's status comment follows it from the first second: creating a job on an issue
queues its ``queued`` edit in the same transaction, and claiming it queues ``running`` or
``applying`` right after the claim (a second transaction, so that the claim stays one
statement; a crash between the two loses that one edit, never the job). Each is an outbox
item keyed by job and state (proposals/progress.py handles them).
"""

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection

from bot.core.diffstat import diffstat
from bot.core.errors import StaleFencingToken, StoreError
from bot.core.records import (
    Effect,
    Failure,
    Job,
    JobState,
    Lease,
    NewJob,
    NewProposal,
    Phase,
    ProposalRecord,
)
from bot.core.retry import backoff_seconds
from bot.core.vocab import EventKind, OutboxKind
from bot.store import statements as st
from bot.store.actions import LEASE_CLEARED, MaintainerActions
from bot.store.database import Database
from bot.store.outbox import status_comment_key
from bot.store.reads import StoreReads
from bot.store.statements import Completion

P = ParamSpec("P")
# Requeues that spend no attempt but have a cap of their own (``requeue``). Credential
# errors wait too, uncapped: they heal when the App's configuration is fixed.
DRIFT_KINDS = (EventKind.DRIFT, EventKind.PROPOSAL_CHANGED)
WAIT_KINDS = (EventKind.RATE_LIMITED, EventKind.PACED)
R = TypeVar("R")


class _Refused(Exception):
    """Raised inside a transaction when a fenced write touched no row; see ``_fenced_write``."""

    def __init__(self, step: str) -> None:
        self.step = step


def _fenced_write(
    method: Callable[Concatenate["Store", str, int, P], R],
) -> Callable[Concatenate["Store", str, int, P], R]:
    """Turn a refused write into StaleFencingToken, recording the refusal *after* the
    transaction that detected it has rolled back (on SQLite a second writer would wait)."""

    @functools.wraps(method)
    def wrapper(self: "Store", job_id: str, token: int, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, job_id, token, *args, **kwargs)
        except _Refused as refused:
            raise self._refusal(job_id, token, refused.step) from None

    return wrapper


@dataclass(frozen=True)
class Enqueued:
    job: Job
    created: bool


class Store(StoreReads, MaintainerActions):
    """Intake, leases and the fenced writes; reads and maintainer actions come from the
    two mixins (bot/store/reads.py, bot/store/actions.py)."""

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        max_drifts: int = 5,
        max_waits: int = 100,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.max_drifts = max_drifts
        self.max_waits = max_waits
        self._jitter = jitter

    # -- intake ---------------------------------------------------------------------------

    def enqueue(self, spec: NewJob, *, now: float | None = None) -> Enqueued:
        """Create a job once per idempotency key; the same key returns the same job."""
        with self.db.transaction() as conn:
            return self.enqueue_in(conn, spec, now=now)

    def enqueue_in(self, conn: Connection, spec: NewJob, *, now: float | None = None) -> Enqueued:
        """:meth:`enqueue` inside the caller's transaction (intake adds its delivery row)."""
        at = self.db.now(conn, now)
        created = st.insert_job_if_new(conn, spec, now=at, max_attempts=self.max_attempts)
        job = st.job_by_key(conn, spec.idempotency_key) or st.get_job(conn, spec.id)
        if created:
            self._put_progress(conn, job, JobState.QUEUED, now=at)
            st.append_event(
                conn,
                job.id,
                EventKind.CREATED,
                now=at,
                data={
                    "repo": job.repo,
                    "agent": job.agent,
                    "mode": job.mode,
                    "requester": job.requester,
                    "base_ref": job.base_ref,
                    "base_sha": job.base_sha,
                },
            )
        return Enqueued(job, created)

    # -- leases ---------------------------------------------------------------------------

    def claim(
        self, worker_id: str, phase: Phase, *, limit: int = 1, now: float | None = None
    ) -> list[Lease]:
        """Lease up to ``limit`` ready (or expired) jobs of ``phase``; see the lease rules in
        bot/store/statements.py. One statement on PostgreSQL, events included."""
        with self.db.single_statement() as conn:
            leases = st.claim_ready_or_expired(
                conn,
                owner=worker_id,
                phase=phase,
                now=self.db.statement_now(conn, now),
                lease_seconds=self.lease_seconds,
                limit=limit,
            )
        on_issues = [lease.job for lease in leases if lease.job.issue_number is not None]
        if on_issues:  # a second transaction: a claim stays one statement on PostgreSQL
            with self.db.transaction() as conn:
                at = self.db.now(conn, now)
                for job in on_issues:
                    self._put_progress(conn, job, phase.leased_state, now=at)
        return leases

    @staticmethod
    def _put_progress(conn: Connection, job: Job, state: JobState, *, now: float) -> None:
        """Queue the status comment's edit to ``state`` (queued, running, applying): keyed by
        job and state, so a replayed claim or a re-run never edits it twice for one state."""
        if job.issue_number is None:
            return
        st.put_outbox_item(
            conn,
            key=status_comment_key(job.id, state.value),
            kind=OutboxKind.STATUS_COMMENT,
            job_id=job.id,
            payload={"state": state.value},
            now=now,
        )

    def heartbeat(self, job_id: str, token: int, *, now: float | None = None) -> bool:
        """Extend the lease; False means it is lost and the holder must stop."""
        with self.db.single_statement() as conn:
            return st.heartbeat_if_token(
                conn,
                job_id=job_id,
                token=token,
                now=self.db.statement_now(conn, now),
                lease_seconds=self.lease_seconds,
            )

    def reap_expired(self, *, now: float | None = None) -> list[str]:
        """Tombstone leased jobs whose lease ran out on their last allowed attempt (an
        expired lease with attempts left is taken back by the next claim instead)."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            reaped = []
            for job in st.leased_jobs_expired_on_last_attempt(conn, now=at):
                st.append_event(
                    conn,
                    job.id,
                    EventKind.LEASE_EXPIRED,
                    now=at,
                    attempt=job.attempt,
                    token=job.fencing_token,
                    data={"owner": job.lease_owner, "expired_at": job.lease_expires_at},
                )
                failure = Failure(
                    EventKind.LEASE_EXPIRED,
                    f"The last attempt ({job.attempt} of {job.max_attempts}) stopped "
                    "answering and its lease expired.",
                    retryable=False,
                )
                self._tombstone(conn, job, failure, now=at, spent=1)
                reaped.append(job.id)
            return reaped

    # -- fenced writes --------------------------------------------------------------------

    def _fenced(
        self,
        conn: Connection,
        job_id: str,
        token: int,
        values: Mapping[str, Any],
        *,
        step: str,
    ) -> Job:
        job = st.update_if_token(conn, job_id, token, values)
        if job is None:
            raise _Refused(step)
        return job

    def _refusal(self, job_id: str, token: int, step: str) -> StaleFencingToken:
        """Record, in its own transaction, that a stale holder tried to write."""
        with self.db.transaction() as conn:
            current = st.get_job(conn, job_id)
            st.append_event(
                conn,
                job_id,
                EventKind.FENCED_WRITE_REJECTED,
                now=self.db.now(conn),
                attempt=current.attempt,
                token=token,
                data={"step": step, "current_token": current.fencing_token, "state": current.state},
            )
        return StaleFencingToken(
            f"Job {job_id}: the {step} write carried fencing token {token}, but the job is now "
            f"at token {current.fencing_token} in state {current.state.value}; it was refused."
        )

    @_fenced_write
    def store_proposal(
        self, job_id: str, token: int, proposal: NewProposal, *, now: float | None = None
    ) -> ProposalRecord:
        """Store the agent's diff and hand the job to the interpreter, in one transaction."""
        stat = diffstat(proposal.diff)
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = self._fenced(
                conn,
                job_id,
                token,
                {
                    "state": JobState.PROPOSED.value,
                    "run_after": at,
                    "updated_at": at,
                    **LEASE_CLEARED,
                },
                step="store_proposal",
            )
            record = st.insert_proposal(
                conn,
                {
                    "job_id": job_id,
                    "attempt": job.attempt,
                    "fencing_token": token,
                    "base_sha": proposal.base_sha,
                    "diff": proposal.diff,
                    "diff_sha256": stat.sha256,
                    "files_changed": stat.files,
                    "additions": stat.additions,
                    "deletions": stat.deletions,
                    "agent": proposal.agent,
                    "agent_version": proposal.agent_version,
                    "agent_log": proposal.agent_log,
                    "verify": proposal.verify,
                    "created_at": at,
                },
            )
            st.append_event(
                conn,
                job_id,
                EventKind.PROPOSAL_STORED,
                now=at,
                attempt=job.attempt,
                token=token,
                data={
                    "proposal_id": record.id,
                    "diff_sha256": stat.sha256,
                    "files": stat.files,
                    "additions": stat.additions,
                    "deletions": stat.deletions,
                    "verify": (proposal.verify or {}).get("outcome"),
                },
            )
            return record

    @_fenced_write
    def record_effect(
        self,
        job_id: str,
        token: int,
        step: str,
        result: Mapping[str, Any],
        *,
        job_updates: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Effect:
        """Record a GitHub side effect once; a second record of the step returns the first."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = self._fenced(
                conn, job_id, token, {"updated_at": at, **(job_updates or {})}, step=step
            )
            existing = st.effect_of(conn, job_id, step)
            if existing is not None:
                return existing
            st.insert_effect(
                conn,
                {
                    "job_id": job_id,
                    "step": step,
                    "result": dict(result),
                    "fencing_token": token,
                    "created_at": at,
                },
            )
            st.append_event(
                conn,
                job_id,
                EventKind.EFFECT,
                now=at,
                attempt=job.attempt,
                token=token,
                data={"step": step, **dict(result)},
            )
            return Effect(job_id, step, dict(result), token, at)

    def complete(
        self,
        job_id: str,
        token: int,
        *,
        state: JobState = JobState.DONE,
        data: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Job:
        """Finish the leased work: DONE (a PR exists) or PLANNED (a plan was posted)."""
        completion = Completion(job_id, token, state, dict(data or {}))
        (refused,) = self.complete_many([completion], now=now)
        if refused is not None:
            raise refused
        return self.get(job_id)

    def complete_many(
        self, completions: Sequence[Completion], *, now: float | None = None
    ) -> list[StaleFencingToken | None]:
        """:meth:`complete` for several leased jobs in one statement (PostgreSQL) or one
        transaction (SQLite); each with its own ``completed`` or ``planned`` event.

        One result per completion, in order: None when it was written, or the refusal of a
        stale token (recorded as a ``fenced_write_rejected`` event), which does not hold back
        the others.
        """
        if len({c.job_id for c in completions}) != len(completions):
            raise StoreError("complete_many() takes each job at most once")
        for c in completions:
            if c.state not in (JobState.DONE, JobState.PLANNED):
                raise StoreError(f"complete() cannot move a job to {c.state.value}")
        if not completions:
            return []
        with self.db.single_statement() as conn:
            finished = st.finish_if_tokens(conn, completions, now=self.db.statement_now(conn, now))
        return [
            None if c.job_id in finished else self._refusal(c.job_id, c.token, "complete")
            for c in completions
        ]

    @_fenced_write
    def fail(self, job_id: str, token: int, failure: Failure, *, now: float | None = None) -> Job:
        """End an attempt badly, which counts it: back to the queue with backoff while
        attempts are left and the failure is retryable, or a tombstone."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            current = st.get_job(conn, job_id, for_update=True)
            if current.fencing_token != token or current.state not in (
                JobState.RUNNING,
                JobState.APPLYING,
            ):
                raise _Refused("fail")
            phase = Phase.of(current.state)
            failed = current.attempts + 1
            retry = failure.retryable and failed < current.max_attempts
            delay = (
                failure.retry_after
                if failure.retry_after is not None
                else backoff_seconds(failed, jitter=self._jitter)
            )
            st.append_event(
                conn,
                job_id,
                EventKind.ATTEMPT_FAILED,
                now=at,
                attempt=current.attempt,
                token=token,
                data={
                    "reason_code": failure.reason_code,
                    "message": failure.message,
                    "retryable": failure.retryable,
                    "retry_in": round(delay, 3) if retry else None,
                    **failure.data,
                },
            )
            if retry:
                return self._fenced(
                    conn,
                    job_id,
                    token,
                    {
                        "state": phase.ready_state.value,
                        "run_after": at + delay,
                        "updated_at": at,
                        "attempts": failed,
                        "last_error": f"{failure.reason_code}: {failure.message}",
                        **LEASE_CLEARED,
                    },
                    step="fail",
                )
            return self._tombstone(conn, current, failure, now=at, spent=1)

    def _tombstone(
        self, conn: Connection, job: Job, failure: Failure, *, now: float, spent: int = 0
    ) -> Job:
        """Tombstone ``job``; ``spent=1`` when the attempt in progress failed (it counts)."""
        updated = st.update_job(
            conn,
            job.id,
            {
                "state": JobState.TOMBSTONED.value,
                "attempts": job.attempts + spent,
                "updated_at": now,
                "last_error": f"{failure.reason_code}: {failure.message}",
                **LEASE_CLEARED,
            },
        )
        st.append_event(
            conn,
            job.id,
            EventKind.TOMBSTONED,
            now=now,
            attempt=job.attempt,
            token=job.fencing_token,
            data={"reason_code": failure.reason_code, "message": failure.message},
        )
        trail = [
            {
                "at": e.at,
                "kind": e.kind,
                "attempt": e.attempt,
                "token": e.fencing_token,
                "data": e.data,
            }
            for e in st.events_of(conn, job.id)
        ]
        st.insert_tombstone(
            conn,
            {
                "job_id": job.id,
                "reason_code": failure.reason_code,
                "summary": failure.message,
                "trail": trail,
                "created_at": now,
            },
        )
        # The report is a GitHub call; the outbox makes sure it happens even if we crash now.
        st.put_outbox_item(
            conn,
            key=f"report:{job.id}:{len(trail)}",
            kind=OutboxKind.JOB_REPORT,
            job_id=job.id,
            payload={},
            now=now,
        )
        return updated

    @_fenced_write
    def requeue(
        self,
        job_id: str,
        token: int,
        *,
        phase: Phase,
        reason: EventKind,
        delay: float = 0.0,
        base_sha: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Job:
        """Give the job back to the queue of ``phase``; this spends no attempt.

        Used for drift (run again on a new base: ``phase=RUN``, ``base_sha``) and for rate
        limits (``delay``). Each has its own cap instead, counted in events since the job
        last started over (a maintainer's retry or replay): the drift that goes past
        ``max_drifts``, or the wait past ``max_waits``, tombstones the job.
        """
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            values: dict[str, Any] = {
                "state": phase.ready_state.value,
                "run_after": at + delay,
                "updated_at": at,
                **LEASE_CLEARED,
            }
            if base_sha is not None:
                values["base_sha"] = base_sha
            job = self._fenced(conn, job_id, token, values, step="requeue")
            if base_sha is not None:
                st.delete_effects(conn, job_id)
            st.append_event(
                conn,
                job_id,
                reason,
                now=at,
                attempt=job.attempt,
                token=token,
                data={
                    "phase": phase.value,
                    "delay": delay,
                    "base_sha": base_sha,
                    **dict(data or {}),
                },
            )
            over = self._over_cap(conn, job_id, reason)
            return job if over is None else self._tombstone(conn, job, over, now=at)

    def _over_cap(self, conn: Connection, job_id: str, reason: EventKind) -> Failure | None:
        """The tombstone's failure when this requeue went past its kind's cap."""
        for kinds, cap, code, what in (
            (DRIFT_KINDS, self.max_drifts, "too_many_drifts", "went back to run on a new base"),
            (WAIT_KINDS, self.max_waits, "too_many_waits", "waited for a rate limit"),
        ):
            if reason in kinds:
                count = st.count_events_since_restart(conn, job_id, kinds)
                if count > cap:
                    return Failure(
                        code,
                        f"The job {what} {count} times, more than the {cap} allowed; "
                        "it stopped instead of trying again.",
                        retryable=False,
                    )
        return None
