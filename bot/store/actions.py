"""What maintainers and operators do to jobs: cancel, retry, apply a plan, replay.

None of these hold a lease, so none is fenced: each reads the job under a row lock
(PostgreSQL) or the write lock (SQLite), decides from its state, and moves it with one
event in the same transaction.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from bot.core.errors import StoreError
from bot.core.records import Job, JobState, Phase
from bot.core.vocab import EventKind, JobMode, OutboxKind, PrOutcome
from bot.store import statements as st
from bot.store.database import Database

LEASE_CLEARED = {"lease_owner": None, "lease_expires_at": None}


class MaintainerActions:
    db: Database
    max_attempts: int

    @staticmethod
    def _move(
        conn: Connection,
        job: Job,
        values: Mapping[str, Any],
        *,
        kind: EventKind,
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
                {"state": JobState.CANCELLED.value, **LEASE_CLEARED},
                kind=EventKind.CANCELLED,
                data={"actor": actor, "reason": reason},
                at=at,
            )
            st.put_outbox_item(
                conn,
                key=f"report:{job_id}:cancel:{at}",
                kind=OutboxKind.JOB_REPORT,
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
                    "mode": JobMode.PR if job.state is JobState.PLANNED else job.mode,
                    **LEASE_CLEARED,
                },
                kind=EventKind.RETRIED,
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
                {"state": JobState.PROPOSED.value, "mode": JobMode.PR, "run_after": at},
                kind=EventKind.APPLY_REQUESTED,
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
                    **LEASE_CLEARED,
                },
                kind=EventKind.REPLAY_REQUESTED,
                data={"actor": actor, "from_state": job.state.value},
                at=at,
            )

    def record_outcome(self, job_id: str, outcome: PrOutcome, *, data: Mapping[str, Any]) -> Job:
        """A human merged or closed the job's PR."""
        with self.db.transaction() as conn:
            at = self.db.now(conn)
            job = st.update_job(conn, job_id, {"outcome": outcome, "updated_at": at})
            st.append_event(conn, job_id, outcome.event, now=at, attempt=job.attempt, data=data)
            return job

    def note(
        self, job_id: str, kind: EventKind, data: Mapping[str, Any], *, token: int = 0
    ) -> None:
        """Append an informational event (drift checked, check run started, ...)."""
        with self.db.transaction() as conn:
            job = st.get_job(conn, job_id)
            st.append_event(
                conn,
                job_id,
                kind,
                now=self.db.now(conn),
                attempt=job.attempt,
                token=token,
                data=data,
            )

    def set_tombstone_comment(self, job_id: str, comment_id: int) -> None:
        """Record the report comment posted about the job's latest tombstone."""
        with self.db.transaction() as conn:
            st.set_latest_tombstone_comment(conn, job_id, comment_id)

    def set_job_fields(self, job_id: str, values: Mapping[str, Any]) -> Job:
        """Unfenced bookkeeping for outbox workers (e.g. the status comment id)."""
        allowed = {"comment_id", "check_run_id"}
        if not set(values) <= allowed:
            raise StoreError(f"set_job_fields may only set {sorted(allowed)}")
        with self.db.transaction() as conn:
            return st.update_job(conn, job_id, dict(values))
