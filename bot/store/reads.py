"""Reading the store: jobs, trails, proposals, effects, tombstones, operator counts.

Reads run on :meth:`Database.read` connections, which begin DEFERRED on SQLite
(bot/store/dialect.py): they neither wait for nor block a writer.
"""

from dataclasses import dataclass

from bot.core.errors import JobNotFound
from bot.core.records import Effect, Event, Job, JobState, ProposalRecord, Tombstone
from bot.store import statements as st
from bot.store.database import Database


class StoreReads:
    db: Database

    def get(self, job_id: str) -> Job:
        with self.db.read() as conn:
            return st.get_job(conn, job_id)

    def find(self, job_id_prefix: str) -> Job:
        """A job by id or unambiguous id prefix (what people type from a comment)."""
        with self.db.read() as conn:
            jobs = st.jobs_by_id_prefix(conn, job_id_prefix, limit=2)
        if len(jobs) != 1:
            raise JobNotFound(
                f"There is no job {job_id_prefix!r}."
                if not jobs
                else f"{job_id_prefix!r} matches several jobs; give more of the id."
            )
        return jobs[0]

    def revisions(self, parent_id: str) -> list[Job]:
        """The revision jobs of a proposal (``parent_id``), in revision order."""
        with self.db.read() as conn:
            return st.revisions_of(conn, parent_id)

    def events(self, job_id: str) -> list[Event]:
        with self.db.read() as conn:
            st.get_job(conn, job_id)
            return st.events_of(conn, job_id)

    def latest_proposal(self, job_id: str) -> ProposalRecord | None:
        with self.db.read() as conn:
            return st.latest_proposal(conn, job_id)

    def proposals(self, job_id: str) -> list[ProposalRecord]:
        with self.db.read() as conn:
            return st.proposals_of(conn, job_id)

    def effects(self, job_id: str) -> dict[str, Effect]:
        with self.db.read() as conn:
            return {e.step: e for e in st.effects_of(conn, job_id)}

    def tombstone(self, job_id: str) -> Tombstone | None:
        with self.db.read() as conn:
            return st.latest_tombstone(conn, job_id)

    def list_jobs(
        self,
        *,
        state: str | None = None,
        repo: str | None = None,
        since: float | None = None,
        limit: int = 100,
    ) -> list[Job]:
        with self.db.read() as conn:
            return st.jobs_newest_first(conn, state=state, repo=repo, since=since, limit=limit)

    def jobs_of_installation(self, installation_id: int, states: list[JobState]) -> list[Job]:
        with self.db.read() as conn:
            return st.jobs_of_installation_in_states(conn, installation_id, states)

    def is_migrated(self) -> bool:
        """True when the database is at the newest migration (``/readyz`` asks this)."""
        from bot.store.migrate import is_current  # Alembic loads only for those who ask

        with self.db.read() as conn:
            return is_current(conn)

    def operator_counts(
        self, event_kinds: list[str], *, now: float | None = None
    ) -> "OperatorCounts":
        """Everything an operator alerts on, read in one transaction (one consistent view,
        and on SQLite one lock instead of six)."""
        with self.db.read() as conn, conn.begin():  # a read: one snapshot, no lock
            at = self.db.now(conn, now)
            events = st.count_events_by_kind(conn, event_kinds)
            oldest = st.oldest_ready_run_after(conn, now=at)
            return OperatorCounts(
                jobs_by_state=st.count_jobs_by_state_or_scheduled(conn, now=at),
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
