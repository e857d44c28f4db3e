"""The job store: one API over SQLite and PostgreSQL.

Every method is one transaction. Every transition appends its event in that same
transaction. Every write that finishes work carries the fencing token and is refused with
:class:`~bot.errors.StaleFencingToken` (and a ``fenced_write_rejected`` event) when a newer
holder owns the job. Events, proposals and tombstones are only ever inserted.
"""

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, func, select

from bot.diffstat import diffstat
from bot.errors import JobNotFound, StaleFencingToken, StoreError
from bot.records import (
    Effect,
    Event,
    Failure,
    Job,
    JobState,
    Lease,
    NewJob,
    NewProposal,
    Phase,
    ProposalRecord,
    Tombstone,
)
from bot.retry import backoff_seconds
from bot.store import statements as st
from bot.store.claims import claim_jobs, heartbeat_if_token
from bot.store.database import Database
from bot.store.rows import job_from_row
from bot.store.tables import JOBS

_LEASE_CLEARED = {"lease_owner": None, "lease_expires_at": None}

P = ParamSpec("P")
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


class Store:
    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 5,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
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
            st.append_event(
                conn,
                job.id,
                "created",
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
        # On PostgreSQL the claim is one statement (rows, lease, fencing token and events).
        with self.db.single_statement() as conn:
            return claim_jobs(
                conn,
                owner=worker_id,
                phase=phase,
                now=self._statement_now(conn, now),
                lease_seconds=self.lease_seconds,
                limit=limit,
            )

    def _statement_now(self, conn: Connection, now: float | None) -> float | None:
        """The time for a statement that can read the clock itself: the injected time, the
        database clock on SQLite, or None on PostgreSQL (the statement reads it: one round
        trip less on the hot paths)."""
        if now is not None or self.db.sqlite:
            return self.db.now(conn, now)
        return None

    def heartbeat(self, job_id: str, token: int, *, now: float | None = None) -> bool:
        """Extend the lease; False means it is lost and the holder must stop."""
        with self.db.transaction() as conn:
            return heartbeat_if_token(
                conn,
                job_id=job_id,
                token=token,
                now=self.db.now(conn, now),
                lease_seconds=self.lease_seconds,
            )

    def reap_expired(self, *, now: float | None = None) -> list[str]:
        """Tombstone leased jobs whose lease ran out on their last allowed attempt."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            rows = conn.execute(
                select(JOBS).where(
                    JOBS.c.state.in_([JobState.RUNNING.value, JobState.APPLYING.value]),
                    JOBS.c.lease_expires_at < at,
                    JOBS.c.attempts >= JOBS.c.max_attempts,
                )
            ).mappings()
            reaped = []
            for job in [job_from_row(r) for r in rows]:
                st.append_event(
                    conn,
                    job.id,
                    "lease_expired",
                    now=at,
                    attempt=job.attempts,
                    token=job.fencing_token,
                    data={"owner": job.lease_owner, "expired_at": job.lease_expires_at},
                )
                failure = Failure(
                    "lease_expired",
                    f"The last attempt ({job.attempts} of {job.max_attempts}) stopped "
                    "answering and its lease expired.",
                    retryable=False,
                )
                self._tombstone(conn, job, failure, now=at)
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
                "fenced_write_rejected",
                now=self.db.now(conn),
                attempt=current.attempts,
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
                    **_LEASE_CLEARED,
                },
                step="store_proposal",
            )
            record = st.insert_proposal(
                conn,
                {
                    "job_id": job_id,
                    "attempt": job.attempts,
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
                "proposal_stored",
                now=at,
                attempt=job.attempts,
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
                "effect",
                now=at,
                attempt=job.attempts,
                token=token,
                data={"step": step, **dict(result)},
            )
            return Effect(job_id, step, dict(result), token, at)

    @_fenced_write
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
        if state not in (JobState.DONE, JobState.PLANNED):
            raise StoreError(f"complete() cannot move a job to {state.value}")
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = self._fenced(
                conn,
                job_id,
                token,
                {"state": state.value, "updated_at": at, "last_error": None, **_LEASE_CLEARED},
                step="complete",
            )
            kind = "completed" if state is JobState.DONE else "planned"
            st.append_event(
                conn, job_id, kind, now=at, attempt=job.attempts, token=token, data=dict(data or {})
            )
            return job

    def complete_many(
        self, items: Sequence[tuple[str, int]], *, now: float | None = None
    ) -> list[str]:
        """:meth:`complete` for several leased jobs in one transaction: (job id, token) pairs.

        Each job is finished (DONE, one ``completed`` event) only while its token is current;
        a stale pair is refused on its own, recorded as a ``fenced_write_rejected`` event,
        and does not hold back the others. Returns the ids finished, in the given order.
        """
        if len({job_id for job_id, _ in items}) != len(items):
            raise StoreError("complete_many() takes each job at most once")
        if not items:
            return []
        with self.db.single_statement() as conn:  # one statement on PostgreSQL, events too
            at = self._statement_now(conn, now)
            finished = st.finish_if_tokens(
                conn, items, state=JobState.DONE, now=at, event="completed"
            )
        for job_id, token in items:
            if job_id not in finished:
                self._refusal(job_id, token, "complete")
        return [job_id for job_id, _ in items if job_id in finished]

    @_fenced_write
    def fail(self, job_id: str, token: int, failure: Failure, *, now: float | None = None) -> Job:
        """End an attempt badly: back to the queue with backoff, or a tombstone."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            current = st.get_job(conn, job_id, for_update=True)
            if current.fencing_token != token or current.state not in (
                JobState.RUNNING,
                JobState.APPLYING,
            ):
                raise _Refused("fail")
            phase = Phase.RUN if current.state is JobState.RUNNING else Phase.APPLY
            retry = failure.retryable and current.attempts < current.max_attempts
            delay = (
                failure.retry_after
                if failure.retry_after is not None
                else backoff_seconds(current.attempts, jitter=self._jitter)
            )
            st.append_event(
                conn,
                job_id,
                "attempt_failed",
                now=at,
                attempt=current.attempts,
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
                        "last_error": f"{failure.reason_code}: {failure.message}",
                        **_LEASE_CLEARED,
                    },
                    step="fail",
                )
            return self._tombstone(conn, current, failure, now=at)

    def _tombstone(self, conn: Connection, job: Job, failure: Failure, *, now: float) -> Job:
        updated = st.update_job(
            conn,
            job.id,
            {
                "state": JobState.TOMBSTONED.value,
                "updated_at": now,
                "last_error": f"{failure.reason_code}: {failure.message}",
                **_LEASE_CLEARED,
            },
        )
        st.append_event(
            conn,
            job.id,
            "tombstoned",
            now=now,
            attempt=job.attempts,
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
            kind="job_report",
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
        reason: str,
        delay: float = 0.0,
        base_sha: str | None = None,
        refund_attempt: bool = False,
        data: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> Job:
        """Give the job back to the queue of ``phase`` without counting a failure.

        Used for drift (run again on a new base: ``phase=RUN``, ``base_sha``) and for rate
        limits (``delay``, ``refund_attempt``: waiting for GitHub is not a failed attempt).
        """
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            values: dict[str, Any] = {
                "state": phase.ready_state.value,
                "run_after": at + delay,
                "updated_at": at,
                **_LEASE_CLEARED,
            }
            if base_sha is not None:
                values["base_sha"] = base_sha
            if refund_attempt:
                values["attempts"] = JOBS.c.attempts - 1
            job = self._fenced(conn, job_id, token, values, step="requeue")
            if base_sha is not None:
                st.delete_effects(conn, job_id)
            st.append_event(
                conn,
                job_id,
                reason,
                now=at,
                attempt=job.attempts,
                token=token,
                data={
                    "phase": phase.value,
                    "delay": delay,
                    "base_sha": base_sha,
                    **dict(data or {}),
                },
            )
            return job

    # -- operator and maintainer actions (not fenced: they do not hold leases) ------------

    @staticmethod
    def _move(
        conn: Connection,
        job: Job,
        values: Mapping[str, Any],
        *,
        kind: str,
        data: Mapping[str, Any],
        at: float,
    ) -> Job:
        """Update an unleased job and append the event that says why, in ``conn``'s txn."""
        moved = st.update_job(conn, job.id, {"updated_at": at, **values})
        st.append_event(
            conn,
            job.id,
            kind,
            now=at,
            attempt=moved.attempts,
            token=moved.fencing_token,
            data=data,
        )
        return moved

    def cancel(self, job_id: str, *, actor: str, reason: str = "", now: float | None = None) -> Job:
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = st.get_job(conn, job_id, for_update=True)
            if job.state.is_final:
                return job
            job = self._move(
                conn,
                job,
                {"state": JobState.CANCELLED.value, **_LEASE_CLEARED},
                kind="cancelled",
                data={"actor": actor, "reason": reason},
                at=at,
            )
            st.put_outbox_item(
                conn,
                key=f"report:{job_id}:cancel:{at}",
                kind="job_report",
                job_id=job_id,
                payload={},
                now=at,
            )
            return job

    def retry(
        self, job_id: str, *, actor: str, recompute: bool = True, now: float | None = None
    ) -> Job:
        """A new attempt of the same job: re-run the agent, or re-publish the stored proposal."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = st.get_job(conn, job_id, for_update=True)
            if job.state in (
                JobState.RUNNING,
                JobState.APPLYING,
                JobState.QUEUED,
                JobState.PROPOSED,
            ):
                return job  # already on its way: a second retry changes nothing
            has_proposal = st.latest_proposal(conn, job_id) is not None
            phase = Phase.RUN if recompute or not has_proposal else Phase.APPLY
            return self._move(
                conn,
                job,
                {
                    "state": phase.ready_state.value,
                    "run_after": at,
                    "max_attempts": job.attempts + self.max_attempts,
                    "mode": "pr" if job.state is JobState.PLANNED else job.mode,
                    **_LEASE_CLEARED,
                },
                kind="retried",
                data={"actor": actor, "phase": phase.value},
                at=at,
            )

    def apply_plan(self, job_id: str, *, actor: str, now: float | None = None) -> Job:
        """`/farcaster apply JOB`: publish a planned job's stored proposal as a PR."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = st.get_job(conn, job_id, for_update=True)
            if job.state is not JobState.PLANNED:
                return job
            return self._move(
                conn,
                job,
                {"state": JobState.PROPOSED.value, "mode": "pr", "run_after": at},
                kind="apply_requested",
                data={"actor": actor},
                at=at,
            )

    def reopen_for_apply(self, job_id: str, *, actor: str, now: float | None = None) -> Job:
        """`farcaster jobs replay`: hand a finished job's stored proposal to the interpreter.

        The effects ledger is kept, so the interpreter finds what it did before and converges
        on the same branch, PR, check run and comment. A job that is waiting or leased is
        returned unchanged; a job without a proposal is refused.
        """
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            job = st.get_job(conn, job_id, for_update=True)
            waiting = (JobState.RUNNING, JobState.APPLYING, JobState.QUEUED, JobState.PROPOSED)
            if job.state in waiting:
                return job
            if st.latest_proposal(conn, job_id) is None:
                raise StoreError(f"Job {job_id} has no stored proposal to replay.")
            return self._move(
                conn,
                job,
                {
                    "state": JobState.PROPOSED.value,
                    "run_after": at,
                    "max_attempts": job.attempts + self.max_attempts,
                    **_LEASE_CLEARED,
                },
                kind="replay_requested",
                data={"actor": actor, "from_state": job.state.value},
                at=at,
            )

    def record_outcome(self, job_id: str, outcome: str, *, data: Mapping[str, Any]) -> Job:
        """A human merged or closed the job's PR."""
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            job = st.update_job(conn, job_id, {"outcome": outcome, "updated_at": at})
            st.append_event(conn, job_id, f"pr_{outcome}", now=at, attempt=job.attempts, data=data)
            return job

    def note(self, job_id: str, kind: str, data: Mapping[str, Any], *, token: int = 0) -> None:
        """Append an informational event (drift checked, check run started, ...)."""
        with self.db.transaction() as conn:
            job = st.get_job(conn, job_id)
            st.append_event(
                conn,
                job_id,
                kind,
                now=self.db.now(conn),
                attempt=job.attempts,
                token=token,
                data=data,
            )

    # -- reads ----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self.db.engine.connect() as conn:
            return st.get_job(conn, job_id)

    def find(self, job_id_prefix: str) -> Job:
        """A job by id or unambiguous id prefix (what people type from a comment)."""
        with self.db.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(JOBS)
                    .where(JOBS.c.id.startswith(job_id_prefix, autoescape=True))
                    .limit(2)
                )
                .mappings()
                .all()
            )
        if len(rows) != 1:
            raise JobNotFound(
                f"There is no job {job_id_prefix!r}."
                if not rows
                else f"{job_id_prefix!r} matches several jobs; give more of the id."
            )
        return job_from_row(rows[0])

    def events(self, job_id: str) -> list[Event]:
        with self.db.engine.connect() as conn:
            st.get_job(conn, job_id)
            return st.events_of(conn, job_id)

    def latest_proposal(self, job_id: str) -> ProposalRecord | None:
        with self.db.engine.connect() as conn:
            return st.latest_proposal(conn, job_id)

    def proposals(self, job_id: str) -> list[ProposalRecord]:
        with self.db.engine.connect() as conn:
            return st.proposals_of(conn, job_id)

    def effects(self, job_id: str) -> dict[str, Effect]:
        with self.db.engine.connect() as conn:
            return {e.step: e for e in st.effects_of(conn, job_id)}

    def tombstone(self, job_id: str) -> Tombstone | None:
        with self.db.engine.connect() as conn:
            return st.latest_tombstone(conn, job_id)

    def set_tombstone_comment(self, job_id: str, comment_id: int) -> None:
        with self.db.transaction() as conn:
            st.set_tombstone_comment(conn, job_id, comment_id)

    def set_job_fields(self, job_id: str, values: Mapping[str, Any]) -> Job:
        """Unfenced bookkeeping for outbox workers (e.g. the status comment id)."""
        allowed = {"comment_id", "check_run_id"}
        if not set(values) <= allowed:
            raise StoreError(f"set_job_fields may only set {sorted(allowed)}")
        with self.db.transaction() as conn:
            return st.update_job(conn, job_id, dict(values))

    def list_jobs(
        self,
        *,
        state: str | None = None,
        repo: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Job]:
        stmt = select(JOBS).order_by(JOBS.c.created_at.desc()).limit(limit)
        if state:
            stmt = stmt.where(JOBS.c.state == state)
        if repo:
            stmt = stmt.where(JOBS.c.repo == repo)
        if since is not None:
            stmt = stmt.where(JOBS.c.created_at >= since)
        with self.db.engine.connect() as conn:
            return [job_from_row(r) for r in conn.execute(stmt).mappings()]

    def count_by_state(self) -> dict[str, int]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(JOBS.c.state, func.count()).group_by(JOBS.c.state)).all()
        return {str(state): int(count) for state, count in rows}

    def jobs_of_installation(self, installation_id: int, states: list[JobState]) -> list[Job]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(JOBS).where(
                    JOBS.c.installation_id == installation_id,
                    JOBS.c.state.in_([s.value for s in states]),
                )
            ).mappings()
            return [job_from_row(r) for r in rows]

    # -- operator counts (metrics read these at scrape time, so every machine agrees) -----

    def operator_counts(
        self, event_kinds: list[str], *, now: float | None = None
    ) -> "OperatorCounts":
        """Everything an operator alerts on, read in one transaction (one consistent view,
        and on SQLite one lock instead of six)."""
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            events = st.count_events_by_kind(conn, event_kinds)
            oldest = st.oldest_ready_run_after(conn, now=at)
            return OperatorCounts(
                jobs_by_state=st.count_jobs_by_state(conn, now=at),
                events_by_kind={kind: events.get(kind, 0) for kind in event_kinds},
                reclaims=st.count_reclaims(conn),
                tombstones_by_reason=st.count_tombstones_by_reason(conn),
                outbox_by_state=st.count_outbox_by_state(conn),
                oldest_ready_age=None if oldest is None else max(0.0, at - oldest),
            )


@dataclass(frozen=True)
class OperatorCounts:
    """A snapshot of the store for metrics; see :meth:`Store.operator_counts`."""

    jobs_by_state: dict[str, int]  # ready jobs waiting for a later run_after: "scheduled"
    events_by_kind: dict[str, int]  # every kind asked for, 0 when the trail has none
    reclaims: int  # claims that took over a job whose holder's lease had expired
    tombstones_by_reason: dict[str, int]  # a revived job that dies again counts twice
    outbox_by_state: dict[str, int]  # pending | done | dead
    oldest_ready_age: float | None  # seconds the longest-waiting ready job has waited
