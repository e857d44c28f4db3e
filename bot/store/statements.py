"""Single statements over one connection, named after what they do and their condition.

The store facade (bot/store/store.py) composes them into transactions; intake composes
them too, so that a delivery, its job and the job's first event commit together.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    bindparam,
    case,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TupleType

from bot.core.errors import JobNotFound
from bot.core.records import (
    LEASED_STATES,
    Effect,
    Event,
    Job,
    JobState,
    NewJob,
    ProposalRecord,
    Tombstone,
)
from bot.core.vocab import EventKind
from bot.store.rows import (
    effect_from_row,
    event_from_row,
    job_from_row,
    proposal_from_row,
    tombstone_from_row,
)
from bot.store.tables import EFFECTS, EVENTS, JOBS, OUTBOX, PROPOSALS, TOMBSTONES


def _insert_ignoring_conflict(
    conn: Connection, table: Any, values: Mapping[str, Any], key: str
) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING; True when a row was written."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c[key])
    )
    return conn.execute(stmt).first() is not None


def insert_job_if_new(conn: Connection, spec: NewJob, *, now: float, max_attempts: int) -> bool:
    """Create the job unless its idempotency key (or id) exists; True when it was created."""
    values = {
        "id": spec.id,
        "idempotency_key": spec.idempotency_key,
        "repo": spec.repo,
        "installation_id": spec.installation_id,
        "issue_number": spec.issue_number,
        "is_pull_request": spec.is_pull_request,
        "requester": spec.requester,
        "command": spec.command,
        "agent": spec.agent,
        "mode": spec.mode,
        "base_ref": spec.base_ref,
        "base_sha": spec.base_sha,
        "state": JobState.QUEUED.value,
        "attempts": 0,
        "max_attempts": spec.max_attempts or max_attempts,
        "run_after": now,
        "fencing_token": 0,
        "created_at": now,
        "updated_at": now,
    }
    if conn.execute(select(JOBS.c.id).where(JOBS.c.id == spec.id)).first() is not None:
        return False
    return _insert_ignoring_conflict(conn, JOBS, values, "idempotency_key")


def job_by_key(conn: Connection, key: str) -> Job | None:
    row = conn.execute(select(JOBS).where(JOBS.c.idempotency_key == key)).mappings().first()
    return job_from_row(row) if row else None


def get_job(conn: Connection, job_id: str, *, for_update: bool = False) -> Job:
    stmt = select(JOBS).where(JOBS.c.id == job_id)
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise JobNotFound(f"There is no job {job_id!r}.")
    return job_from_row(row)


def append_event(
    conn: Connection,
    job_id: str,
    kind: EventKind,
    *,
    now: float,
    attempt: int = 0,
    token: int = 0,
    data: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        insert(EVENTS).values(
            job_id=job_id,
            at=now,
            kind=kind,
            attempt=attempt,
            fencing_token=token,
            data=dict(data or {}),
        )
    )


def append_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(EVENTS), [dict(r) for r in rows])


def update_if_token(
    conn: Connection, job_id: str, token: int, values: Mapping[str, Any]
) -> Job | None:
    """Update a leased job only while ``token`` is its current fencing token.

    None means the write was refused: another holder claimed the job, or it left its
    leased state (cancelled, tombstoned by a reaper).
    """
    stmt = (
        update(JOBS)
        .where(
            JOBS.c.id == job_id,
            JOBS.c.fencing_token == token,
            JOBS.c.state.in_([s.value for s in LEASED_STATES]),
        )
        .values(**values)
        .returning(*JOBS.c)
    )
    row = conn.execute(stmt).mappings().first()
    return job_from_row(row) if row else None


# PostgreSQL statements that read the database clock themselves, saving the round trip of
# Database.now, unless the caller injects a time (``:now`` not NULL). statement_timestamp()
# is one instant for the whole statement.
PG_NOW = "COALESCE(CAST(:now AS double precision), EXTRACT(EPOCH FROM statement_timestamp()))"

_LEASED_SQL = ", ".join(f"'{s.value}'" for s in LEASED_STATES)


def _finish_sql(now: str) -> str:
    return f"""
    UPDATE jobs SET state = :state, updated_at = {now}, last_error = NULL,
        lease_owner = NULL, lease_expires_at = NULL
    WHERE (id, fencing_token) IN :pairs AND state IN ({_LEASED_SQL})
    RETURNING id, attempts, fencing_token, updated_at
    """


_PAIRS = bindparam("pairs", expanding=True, type_=TupleType(String(), BigInteger()))
_FINISH_SQLITE = text(_finish_sql(":now")).bindparams(_PAIRS)
# PostgreSQL appends the events in the same statement (as pgqueuer logs its picks): one
# round trip for the whole batch.
_FINISH_POSTGRES = text(
    f"""
    WITH finished AS ({_finish_sql(PG_NOW)}),
    logged AS (
        INSERT INTO job_events (job_id, at, kind, attempt, fencing_token, data)
        SELECT id, updated_at, :kind, attempts, fencing_token, CAST('{{}}' AS json)
        FROM finished ORDER BY id
    )
    SELECT id, attempts FROM finished
    """
).bindparams(_PAIRS)


def finish_if_tokens(
    conn: Connection,
    pairs: Sequence[tuple[str, int]],
    *,
    state: JobState,
    now: float | None,
    event: EventKind,
) -> dict[str, int]:
    """Finish every leased job whose token is still current, each with an ``event``.

    ``now=None`` (PostgreSQL only) lets the statement read the database clock.

    Returns ``{job_id: attempts}`` of the jobs it finished; a pair missing from it was
    refused (another holder claimed the job, or it left its leased state), as in
    :func:`update_if_token`.
    """
    if not pairs:
        return {}
    params = {"pairs": list(pairs), "state": state.value, "now": now, "kind": event}
    if conn.dialect.name == "postgresql":
        return {job_id: attempts for job_id, attempts in conn.execute(_FINISH_POSTGRES, params)}
    finished = conn.execute(_FINISH_SQLITE, params).all()
    append_events(
        conn,
        [
            {"job_id": j, "at": at, "kind": event, "attempt": a, "fencing_token": t, "data": {}}
            for j, a, t, at in sorted(finished)
        ],
    )
    return {job_id: attempts for job_id, attempts, _, _ in finished}


def update_job(conn: Connection, job_id: str, values: Mapping[str, Any]) -> Job:
    row = (
        conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values).returning(*JOBS.c))
        .mappings()
        .first()
    )
    if row is None:
        raise JobNotFound(f"There is no job {job_id!r}.")
    return job_from_row(row)


def events_of(conn: Connection, job_id: str) -> list[Event]:
    rows = conn.execute(
        select(EVENTS).where(EVENTS.c.job_id == job_id).order_by(EVENTS.c.id)
    ).mappings()
    return [event_from_row(r) for r in rows]


def insert_proposal(conn: Connection, values: Mapping[str, Any]) -> ProposalRecord:
    row = conn.execute(insert(PROPOSALS).values(**values).returning(*PROPOSALS.c)).mappings().one()
    return proposal_from_row(row)


def latest_proposal(conn: Connection, job_id: str) -> ProposalRecord | None:
    row = (
        conn.execute(
            select(PROPOSALS)
            .where(PROPOSALS.c.job_id == job_id)
            .order_by(PROPOSALS.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return proposal_from_row(row) if row else None


def proposals_of(conn: Connection, job_id: str) -> list[ProposalRecord]:
    rows = conn.execute(
        select(PROPOSALS).where(PROPOSALS.c.job_id == job_id).order_by(PROPOSALS.c.id)
    ).mappings()
    return [proposal_from_row(r) for r in rows]


def effect_of(conn: Connection, job_id: str, step: str) -> Effect | None:
    row = (
        conn.execute(select(EFFECTS).where(EFFECTS.c.job_id == job_id, EFFECTS.c.step == step))
        .mappings()
        .first()
    )
    return effect_from_row(row) if row else None


def effects_of(conn: Connection, job_id: str) -> list[Effect]:
    rows = conn.execute(
        select(EFFECTS).where(EFFECTS.c.job_id == job_id).order_by(EFFECTS.c.id)
    ).mappings()
    return [effect_from_row(r) for r in rows]


def insert_effect(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(EFFECTS).values(**values))


def delete_effects(conn: Connection, job_id: str) -> None:
    """Only for a job re-run on a new base: its old effects describe a commit it will not use."""
    conn.execute(EFFECTS.delete().where(EFFECTS.c.job_id == job_id))


def insert_tombstone(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(TOMBSTONES).values(**values))


def latest_tombstone(conn: Connection, job_id: str) -> Tombstone | None:
    row = (
        conn.execute(
            select(TOMBSTONES)
            .where(TOMBSTONES.c.job_id == job_id)
            .order_by(TOMBSTONES.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return tombstone_from_row(row) if row else None


def set_tombstone_comment(conn: Connection, job_id: str, comment_id: int) -> None:
    latest = select(func.max(TOMBSTONES.c.id)).where(TOMBSTONES.c.job_id == job_id)
    conn.execute(
        update(TOMBSTONES)
        .where(TOMBSTONES.c.id == latest.scalar_subquery())
        .values(comment_id=comment_id)
    )


def put_outbox_item(
    conn: Connection,
    *,
    key: str,
    kind: str,
    job_id: str | None,
    payload: Mapping[str, Any],
    now: float,
) -> bool:
    """Queue a GitHub call for the workers; a second item with the same key is ignored."""
    values = {
        "key": key,
        "kind": kind,
        "job_id": job_id,
        "payload": dict(payload),
        "state": "pending",
        "attempts": 0,
        "run_after": now,
        "created_at": now,
    }
    return _insert_ignoring_conflict(conn, OUTBOX, values, "key")


# -- counts for operators (metrics are computed from these at scrape time) ----------------

READY_STATES = (JobState.QUEUED.value, JobState.PROPOSED.value)


def count_jobs_by_state(conn: Connection, *, now: float) -> dict[str, int]:
    """Jobs per state, where a ready job whose ``run_after`` is still ahead counts as
    ``scheduled`` (waiting out a backoff or a rate limit) instead of its state."""
    label = case(
        (JOBS.c.state.in_(READY_STATES) & (JOBS.c.run_after > now), literal("scheduled")),
        else_=JOBS.c.state,
    ).label("label")
    # Grouped over a subquery: PostgreSQL does not see two binds of `now` as one expression.
    labelled = select(label).subquery()
    rows = conn.execute(select(labelled.c.label, func.count()).group_by(labelled.c.label)).all()
    return {str(name): int(count) for name, count in rows}


def count_events_by_kind(conn: Connection, kinds: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(
        select(EVENTS.c.kind, func.count()).where(EVENTS.c.kind.in_(kinds)).group_by(EVENTS.c.kind)
    ).all()
    return {str(kind): int(count) for kind, count in rows}


def count_reclaims(conn: Connection) -> int:
    """Claims that took over an expired lease: their ``claimed`` event names a previous owner
    (a job leaves its leased state with the owner cleared, so a fresh claim names none)."""
    previous_owner = EVENTS.c.data["previous_owner"].as_string()
    stmt = select(func.count()).where(
        EVENTS.c.kind == EventKind.CLAIMED, previous_owner.is_not(None)
    )
    return int(conn.execute(stmt).scalar_one())


def count_tombstones_by_reason(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(TOMBSTONES.c.reason_code, func.count()).group_by(TOMBSTONES.c.reason_code)
    ).all()
    return {str(reason): int(count) for reason, count in rows}


def count_outbox_by_state(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(OUTBOX.c.state, func.count()).group_by(OUTBOX.c.state)).all()
    return {str(state): int(count) for state, count in rows}


def oldest_ready_run_after(conn: Connection, *, now: float) -> float | None:
    """The ``run_after`` of the job that has waited longest for a worker, if any waits."""
    stmt = select(func.min(JOBS.c.run_after)).where(
        JOBS.c.state.in_(READY_STATES), JOBS.c.run_after <= now
    )
    value = conn.execute(stmt).scalar_one()
    return float(value) if value is not None else None
