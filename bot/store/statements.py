"""Every statement the store runs, one function each, named after what it does and when.

The store's classes (bot/store/store.py, actions.py, reads.py, outbox.py, deliveries.py)
compose them into transactions; intake composes them too, so that a delivery, its job and
the job's first event commit together. Each function runs on the connection it is given;
what differs between SQLite and PostgreSQL comes from :mod:`bot.store.dialect`.

Events are built in one place each: a claim's ``lease_expired`` / ``claimed`` events by
:func:`_claim_event_rows` and a finish's ``completed`` / ``planned`` events by
:func:`finish_if_tokens`, in SQL, from the rows as they were before the statement moved
them; every other event by :func:`append_event`.

Leases, in five lines:

1. A claim sets ``lease_owner``, ``lease_expires_at = now + lease`` and ``fencing_token =
   fencing_token + 1`` on jobs that are ready (``run_after <= now``) or whose lease expired
   with attempts left; so an expired lease is reclaimed by the next claim. A lease that
   expires on the job's last attempt is tombstoned by :func:`leased_jobs_expired_on_last_attempt`
   (``Store.reap_expired``, which the worker loop runs every few seconds).
2. ``now`` is the database clock, so runners on several machines agree.
3. PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED``; SQLite runs the same statements
   inside a ``BEGIN IMMEDIATE`` transaction, which admits one writer at a time.
4. ``attempts`` counts attempts that failed or lost their lease, nothing else: a claim
   spends none, except the claim of an expired lease, which counts the lost one and is
   recorded as ``lease_expired`` followed by ``claimed``, atomically with the claim. An
   event's ``attempt`` is the number of the attempt it belongs to, ``attempts + 1``.
5. A heartbeat extends the lease only while the caller's token is current; when it touches
   no row the lease is lost and the caller must stop.
"""

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    case,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import TextClause

from bot.core.errors import JobNotFound
from bot.core.records import (
    LEASED_STATES,
    Effect,
    Event,
    Job,
    JobState,
    Lease,
    NewJob,
    Phase,
    ProposalRecord,
    Tombstone,
)
from bot.core.vocab import EventKind, OutboxKind
from bot.store import dialect as dialects
from bot.store.dialect import Dialect
from bot.store.rows import (
    JOB_COLUMNS,
    effect_from_row,
    event_from_row,
    job_from_row,
    proposal_from_row,
    tombstone_from_row,
)
from bot.store.tables import (
    DELIVERIES,
    EFFECTS,
    EVENTS,
    JOBS,
    OUTBOX,
    PROPOSALS,
    RECOVERIES,
    SWEEPS,
    TOMBSTONES,
    WATERMARKS,
)

_LEASED_SQL = ", ".join(f"'{s.value}'" for s in LEASED_STATES)
_EVENT_COLUMNS = "job_id, at, kind, attempt, fencing_token, data"

# -- jobs ---------------------------------------------------------------------------------


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
        "run_after": max(now, spec.run_after or now),
        "fencing_token": 0,
        "created_at": now,
        "updated_at": now,
        "parent_id": spec.parent_id,
        "revision": spec.revision,
    }
    if conn.execute(select(JOBS.c.id).where(JOBS.c.id == spec.id)).first() is not None:
        return False
    return _insert_ignoring_conflict(conn, JOBS, values, "idempotency_key")


def _insert_ignoring_conflict(
    conn: Connection, table: Any, values: Mapping[str, Any], key: str
) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING; True when a row was written."""
    stmt = dialects.of(conn).insert_ignoring(table, values, key).returning(table.c[key])
    return conn.execute(stmt).first() is not None


def job_by_key(conn: Connection, key: str) -> Job | None:
    row = conn.execute(select(JOBS).where(JOBS.c.idempotency_key == key)).mappings().first()
    return job_from_row(row) if row else None


def get_job(conn: Connection, job_id: str, *, for_update: bool = False) -> Job:
    """The job; ``for_update`` when the transaction will move it (a row lock where needed)."""
    stmt = select(JOBS).where(JOBS.c.id == job_id)
    if for_update:
        stmt = dialects.of(conn).lock_row(stmt)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise JobNotFound(f"There is no job {job_id!r}.")
    return job_from_row(row)


def jobs_by_id_prefix(conn: Connection, prefix: str, *, limit: int) -> list[Job]:
    stmt = select(JOBS).where(JOBS.c.id.startswith(prefix, autoescape=True)).limit(limit)
    return [job_from_row(r) for r in conn.execute(stmt).mappings()]


def jobs_newest_first(
    conn: Connection,
    *,
    state: str | None,
    repo: str | None,
    since: float | None,
    limit: int,
) -> list[Job]:
    """Jobs by creation time, newest first, of a state / repository / age when given."""
    stmt = select(JOBS).order_by(JOBS.c.created_at.desc()).limit(limit)
    if state:
        stmt = stmt.where(JOBS.c.state == state)
    if repo:
        stmt = stmt.where(JOBS.c.repo == repo)
    if since is not None:
        stmt = stmt.where(JOBS.c.created_at >= since)
    return [job_from_row(r) for r in conn.execute(stmt).mappings()]


def revisions_of(conn: Connection, parent_id: str) -> list[Job]:
    """A proposal's revision jobs, in revision order."""
    stmt = (
        select(JOBS)
        .where(JOBS.c.parent_id == parent_id)
        .order_by(JOBS.c.revision, JOBS.c.created_at)
    )
    return [job_from_row(r) for r in conn.execute(stmt).mappings()]


def jobs_of_installation_in_states(
    conn: Connection, installation_id: int, states: Sequence[JobState]
) -> list[Job]:
    stmt = select(JOBS).where(
        JOBS.c.installation_id == installation_id,
        JOBS.c.state.in_([s.value for s in states]),
    )
    return [job_from_row(r) for r in conn.execute(stmt).mappings()]


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


def update_job(conn: Connection, job_id: str, values: Mapping[str, Any]) -> Job:
    row = (
        conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values).returning(*JOBS.c))
        .mappings()
        .first()
    )
    if row is None:
        raise JobNotFound(f"There is no job {job_id!r}.")
    return job_from_row(row)


def leased_jobs_expired_on_last_attempt(conn: Connection, *, now: float) -> list[Job]:
    """Leases that ran out on the job's last allowed attempt: no claim will take them back
    (the lost lease is the failed attempt that uses up ``max_attempts``)."""
    stmt = select(JOBS).where(
        JOBS.c.state.in_([s.value for s in LEASED_STATES]),
        JOBS.c.lease_expires_at < now,
        JOBS.c.attempts + 1 >= JOBS.c.max_attempts,
    )
    return [job_from_row(r) for r in conn.execute(stmt).mappings()]


# -- leases: claim, heartbeat, finish ------------------------------------------------------

# Two index-friendly halves instead of one ``OR``: with an ``OR`` PostgreSQL scans and sorts
# every runnable row on each claim (8 ms at 30,000 queued jobs), whereas each half walks its
# own (state, ...) index and stops after ``:limit`` rows. The top ``:limit`` of both halves,
# in (run_after, id) order, are exactly the rows the single ``OR`` query would pick.
# PostgreSQL rejects FOR UPDATE on the inputs of a UNION, so each half locks in its own CTE;
# rows locked by a half but cut by the final LIMIT stay locked only until this commit.
_PICK = """
    {half} AS MATERIALIZED (
        SELECT id, run_after, state AS prev_state, lease_owner AS prev_owner,
               lease_expires_at AS prev_expires_at, attempts, fencing_token
        FROM jobs WHERE {condition}
        ORDER BY run_after, id LIMIT :limit{lock}
    )"""


def _claim_event_rows(d: Dialect) -> str:
    """The events of the claim of every ``picked`` row, from its values before the claim:
    ``lease_expired`` first when it reclaims an expired lease (of the attempt that lost it),
    then ``claimed`` (of the attempt in progress after the claim)."""
    now, obj = d.statement_now, d.json_object
    return f"""
        SELECT id, {now} AS at, run_after, 0 AS step, '{EventKind.LEASE_EXPIRED}' AS kind,
            attempts + 1 AS attempt, fencing_token AS token,
            {obj}('owner', prev_owner, 'expired_at', prev_expires_at) AS data
        FROM picked WHERE prev_state = :leased
        UNION ALL
        SELECT id, {now}, run_after, 1, '{EventKind.CLAIMED}',
            attempts + 1 + CASE WHEN prev_state = :leased THEN 1 ELSE 0 END, fencing_token + 1,
            {obj}('phase', CAST(:phase AS text), 'owner', CAST(:owner AS text),
                'lease_expires_at', {now} + :lease_seconds, 'previous_owner', prev_owner,
                'previous_lease_expires_at', prev_expires_at)
        FROM picked"""


@functools.cache
def _claim_statements(d: Dialect) -> tuple[TextClause, ...]:
    now = d.statement_now
    expired = f"state = :leased AND lease_expires_at < {now} AND attempts + 1 < max_attempts"
    picked = ",".join(
        [
            _PICK.format(half="expired", condition=expired, lock=d.skip_locked),
            _PICK.format(
                half="ready", condition=f"state = :ready AND run_after <= {now}", lock=d.skip_locked
            ),
            """
    picked AS (
        SELECT * FROM expired UNION ALL SELECT * FROM ready ORDER BY run_after, id LIMIT :limit
    )""",
        ]
    )
    events = f"""
        INSERT INTO job_events ({_EVENT_COLUMNS})
        SELECT id, at, kind, attempt, token, data FROM ({_claim_event_rows(d)}) AS e
        ORDER BY run_after, id, step"""
    claim = f"""
        UPDATE jobs SET state = :leased, lease_owner = :owner,
            lease_expires_at = {now} + :lease_seconds,
            fencing_token = fencing_token + 1, updated_at = {now},
            attempts = attempts + CASE WHEN state = :leased THEN 1 ELSE 0 END
        WHERE id IN (SELECT id FROM picked)
        RETURNING {JOB_COLUMNS}"""
    return d.write_then_return(picked, events, claim)


def claim_ready_or_expired(
    conn: Connection,
    *,
    owner: str,
    phase: Phase,
    now: float | None,
    lease_seconds: float,
    limit: int,
) -> list[Lease]:
    """Lease up to ``limit`` jobs of ``phase`` to ``owner``, oldest first, with their events.

    ``now=None`` (PostgreSQL only) lets the statement read the database clock.
    """
    params: dict[str, Any] = {
        "ready": phase.ready_state.value,
        "leased": phase.leased_state.value,
        "now": now,
        "limit": limit,
        "owner": owner,
        "lease_seconds": lease_seconds,
        "phase": phase.value,
    }
    rows = _run_all(conn, _claim_statements(dialects.of(conn)), params)
    leases = []
    for job in sorted(map(job_from_row, rows), key=lambda j: (j.run_after, j.id)):
        assert job.lease_expires_at is not None
        leases.append(
            Lease(job=job, token=job.fencing_token, expires_at=job.lease_expires_at, owner=owner)
        )
    return leases


@functools.cache
def _heartbeat_statement(d: Dialect) -> TextClause:
    return text(
        f"""
        UPDATE jobs SET lease_expires_at = {d.statement_now} + :lease_seconds,
            updated_at = {d.statement_now}
        WHERE id = :id AND fencing_token = :token AND state IN ({_LEASED_SQL})
        """
    )


def heartbeat_if_token(
    conn: Connection, *, job_id: str, token: int, now: float | None, lease_seconds: float
) -> bool:
    """Extend the lease while ``token`` is current; False when it touched no row."""
    params = {"id": job_id, "token": token, "now": now, "lease_seconds": lease_seconds}
    return conn.execute(_heartbeat_statement(dialects.of(conn)), params).rowcount == 1


@dataclass(frozen=True)
class Completion:
    """A leased job to finish: DONE (a PR exists) or PLANNED (a plan was posted), with the
    data of its ``completed`` / ``planned`` event."""

    job_id: str
    token: int
    state: JobState = JobState.DONE
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> EventKind:
        return EventKind.COMPLETED if self.state is JobState.DONE else EventKind.PLANNED


@functools.cache
def _finish_statements(d: Dialect) -> tuple[TextClause, ...]:
    items = d.json_rows(
        "items",
        [
            ("id", "text"),
            ("token", "bigint"),
            ("state", "text"),
            ("kind", "text"),
            ("data", "json"),
        ],
    )
    # Locked (PostgreSQL) so that the events, built from these rows, describe exactly the
    # rows the update then moves: a concurrent claim either waits or is seen through.
    finishing = f"""
    finishing AS (
        SELECT jobs.id AS job_id, jobs.attempts + 1 AS attempt, jobs.fencing_token AS token,
            items.state AS new_state, items.kind AS kind, items.data AS data
        FROM jobs JOIN {items} ON jobs.id = items.id AND jobs.fencing_token = items.token
        WHERE jobs.state IN ({_LEASED_SQL}){d.lock_of("jobs")}
    )"""
    events = f"""
        INSERT INTO job_events ({_EVENT_COLUMNS})
        SELECT job_id, {d.statement_now}, kind, attempt, token, data
        FROM finishing ORDER BY job_id"""
    finish = f"""
        UPDATE jobs SET state = finishing.new_state, updated_at = {d.statement_now},
            last_error = NULL, lease_owner = NULL, lease_expires_at = NULL
        FROM finishing WHERE jobs.id = finishing.job_id
        RETURNING id"""
    return d.write_then_return(finishing, events, finish)


def finish_if_tokens(
    conn: Connection, completions: Sequence[Completion], *, now: float | None
) -> set[str]:
    """End every leased job whose token is still current, each with its own event.

    ``now=None`` (PostgreSQL only) lets the statement read the database clock.

    Returns the ids of the jobs it finished; one missing from it was refused (another
    holder claimed the job, or it left its leased state), as in :func:`update_if_token`.
    """
    if not completions:
        return set()
    items = json.dumps(
        [
            {
                "id": c.job_id,
                "token": c.token,
                "state": c.state.value,
                "kind": c.kind,
                "data": dict(c.data),
            }
            for c in completions
        ]
    )
    rows = _run_all(conn, _finish_statements(dialects.of(conn)), {"items": items, "now": now})
    return {row["id"] for row in rows}


def _run_all(
    conn: Connection, statements: Sequence[TextClause], params: Mapping[str, Any]
) -> list[RowMapping]:
    """Run statements in order (see ``Dialect.write_then_return``); the last one's rows."""
    *first, last = statements
    for statement in first:
        conn.execute(statement, params)
    return list(conn.execute(last, params).mappings())


# -- events -------------------------------------------------------------------------------


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


def count_events_since_restart(conn: Connection, job_id: str, kinds: Sequence[str]) -> int:
    """Events of ``kinds`` since the job last started over (a retry or a replay), if ever."""
    restarts = (EventKind.RETRIED, EventKind.REPLAY_REQUESTED)
    last = select(func.coalesce(func.max(EVENTS.c.id), 0)).where(
        EVENTS.c.job_id == job_id, EVENTS.c.kind.in_(restarts)
    )
    stmt = select(func.count()).where(
        EVENTS.c.job_id == job_id,
        EVENTS.c.kind.in_(list(kinds)),
        EVENTS.c.id > last.scalar_subquery(),
    )
    return int(conn.execute(stmt).scalar_one())


def events_of(conn: Connection, job_id: str) -> list[Event]:
    rows = conn.execute(
        select(EVENTS).where(EVENTS.c.job_id == job_id).order_by(EVENTS.c.id)
    ).mappings()
    return [event_from_row(r) for r in rows]


# -- proposals, effects, tombstones -------------------------------------------------------


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


def set_latest_tombstone_comment(conn: Connection, job_id: str, comment_id: int) -> None:
    """The one update a tombstone gets: the id of the report comment posted about it."""
    latest = select(func.max(TOMBSTONES.c.id)).where(TOMBSTONES.c.job_id == job_id)
    conn.execute(
        update(TOMBSTONES)
        .where(TOMBSTONES.c.id == latest.scalar_subquery())
        .values(comment_id=comment_id)
    )


# -- outbox -------------------------------------------------------------------------------


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


@functools.cache
def _pick_due(d: Dialect, table: str, state: str, *, also: str = "") -> TextClause:
    """Ids of ``table``'s rows in ``state`` whose time has come, whose lease (if any)
    expired and which meet ``also`` (more SQL conditions, ``table`` aliased ``o``), oldest
    first: the outbox's and the inbox's claims pick with it."""
    return text(
        f"""
        SELECT id FROM {table} o
        WHERE o.state = '{state}' AND o.run_after <= :now
          AND (o.lease_expires_at IS NULL OR o.lease_expires_at < :now){also}
        ORDER BY o.run_after, o.id LIMIT :limit{d.skip_locked}
        """
    )


# The kinds that write the job's status comment: one at a time per job, in the order queued
# (bot/store/outbox.py, "lanes").
COMMENT_LANE_KINDS = (OutboxKind.STATUS_COMMENT.value, OutboxKind.JOB_REPORT.value)


def _pick_due_outbox(d: Dialect, *, by_key: bool) -> TextClause:
    """:func:`_pick_due` for the outbox, with its comment lanes: an item that writes a job's
    status comment is due only while no other one of that job is leased and, in a batch,
    when it is the job's earliest due one, so that a batch holds one per job (``by_key``:
    only the item with key ``:key``, which only a held lane holds back)."""
    kinds = ", ".join(f"'{k}'" for k in COMMENT_LANE_KINDS)
    earlier_first = "" if by_key else " OR (e.id < o.id AND e.run_after <= :now)"
    lane = f"""
          AND NOT (o.kind IN ({kinds}) AND o.job_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM outbox e
            WHERE e.job_id = o.job_id AND e.kind IN ({kinds}) AND e.state = 'pending'
              AND e.id <> o.id AND (e.lease_expires_at >= :now{earlier_first})))"""
    return _pick_due(d, "outbox", "pending", also=lane + (" AND o.key = :key" if by_key else ""))


def lease_due_outbox_items(
    conn: Connection,
    *,
    owner: str,
    now: float,
    lease_seconds: float,
    limit: int,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """Lease pending items whose time has come, whose lease (if any) expired and whose
    comment lane lets them go, oldest first (``key``: only the item with that key)."""
    pick = _pick_due_outbox(dialects.of(conn), by_key=key is not None)
    params: dict[str, Any] = {"now": now, "limit": limit, "key": key}
    ids = [r[0] for r in conn.execute(pick, params)]
    if not ids:
        return []
    lease = {"lease_owner": owner, "lease_expires_at": now + lease_seconds}
    return _lease_rows(conn, OUTBOX, ids, lease)


def update_outbox_item_if_owner(
    conn: Connection,
    item_id: int,
    owner: str,
    values: Mapping[str, Any],
    *,
    refund_attempt: bool = False,
) -> None:
    """Move an item only while ``owner`` still holds its lease; ``refund_attempt`` takes
    back the attempt its claim counted."""
    refund = {"attempts": OUTBOX.c.attempts - 1} if refund_attempt else {}
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == item_id, OUTBOX.c.lease_owner == owner)
        .values(**values, **refund)
    )


def mark_outbox_items_done(conn: Connection, item_ids: Sequence[int], owner: str) -> None:
    """Mark items done, those ``owner`` still holds the lease of (one statement)."""
    conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(list(item_ids)), OUTBOX.c.lease_owner == owner)
        .values(state="done", lease_owner=None, lease_expires_at=None, last_error=None)
    )


def outbox_items(conn: Connection, *, kind: str | None) -> list[dict[str, Any]]:
    stmt = select(OUTBOX).order_by(OUTBOX.c.id)
    if kind:
        stmt = stmt.where(OUTBOX.c.kind == kind)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def any_outbox_key_exists(conn: Connection, keys: Sequence[str]) -> bool:
    stmt = select(OUTBOX.c.id).where(OUTBOX.c.key.in_(list(keys))).limit(1)
    return conn.execute(stmt).first() is not None


# -- deliveries ---------------------------------------------------------------------------

UNDECIDED = "undecided"


ACCEPTED_COLUMNS = (
    "delivery_id",
    "event",
    "action",
    "installation_id",
    "repo",
    "payload_sha256",
    "body",
    "body_compressed",
    "state",
    "outcome",
    "reason",
)


@functools.cache
def accept_deliveries_sql(d: Dialect, rows: int) -> str:
    """Intake's INSERT of ``rows`` deliveries, in the driver's own SQL (positional parameters,
    :data:`ACCEPTED_COLUMNS` row by row): ON CONFLICT (delivery_id) DO NOTHING, reading the
    database clock itself, RETURNING the delivery id and state of each row it wrote (an id
    missing from the answer was stored before, or earlier in the same statement). Built once
    per batch size and run with :meth:`Dialect.write_on_driver`: intake runs it for every
    burst."""
    width = len(ACCEPTED_COLUMNS)

    def one(row: int) -> str:
        marks = ", ".join(d.param(row * width + n) for n in range(1, width + 1))
        return f"({marks}, {d.clock}, {d.clock}, 0, 0)"

    return (
        f"INSERT INTO deliveries ({', '.join(ACCEPTED_COLUMNS)}, received_at, run_after,"
        f" attempts, fencing_token) VALUES {', '.join(one(row) for row in range(rows))}"
        " ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id, state"
    )


def delivery_by_id(conn: Connection, delivery_id: str) -> RowMapping | None:
    columns = [c for c in DELIVERIES.c if c.name != "body"]
    return (
        conn.execute(select(*columns).where(DELIVERIES.c.delivery_id == delivery_id))
        .mappings()
        .first()
    )


def deliveries_newest_first(
    conn: Connection, *, limit: int, state: str | None = None
) -> list[RowMapping]:
    columns = [c for c in DELIVERIES.c if c.name != "body"]
    stmt = select(*columns).order_by(DELIVERIES.c.id.desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(DELIVERIES.c.state == state)
    return list(conn.execute(stmt).mappings())


def count_deliveries(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(DELIVERIES)).scalar_one())


def lease_due_deliveries(
    conn: Connection, *, owner: str, now: float, lease_seconds: float, limit: int
) -> list[dict[str, Any]]:
    """Lease undecided deliveries whose time has come and whose lease (if any) expired,
    oldest first: a new fencing token each, one attempt counted each."""
    pick = _pick_due(dialects.of(conn), "deliveries", UNDECIDED)
    ids = [r[0] for r in conn.execute(pick, {"now": now, "limit": limit})]
    if not ids:
        return []
    lease = {
        "lease_owner": owner,
        "lease_expires_at": now + lease_seconds,
        "fencing_token": DELIVERIES.c.fencing_token + 1,
    }
    return _lease_rows(conn, DELIVERIES, ids, lease)


def _lease_rows(
    conn: Connection, table: Table, ids: Sequence[int], lease: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Lease the picked rows of the outbox or the inbox, one attempt counted each; the rows
    as written, by id."""
    stmt = update(table).where(table.c.id.in_(ids)).values(**lease, attempts=table.c.attempts + 1)
    rows = conn.execute(stmt.returning(*table.c)).mappings()
    return sorted((dict(r) for r in rows), key=lambda r: r["id"])


def update_delivery_if_token(
    conn: Connection,
    delivery_row_id: int,
    fencing_token: int,
    values: Mapping[str, Any],
    *,
    refund_attempt: bool = False,
) -> RowMapping | None:
    """Move an undecided delivery only while ``fencing_token`` is its current one; the row
    as written, or None when another holder took it over (or decided it) since."""
    refund = {"attempts": DELIVERIES.c.attempts - 1} if refund_attempt else {}
    columns = [c for c in DELIVERIES.c if c.name != "body"]
    stmt = (
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == delivery_row_id,
            DELIVERIES.c.fencing_token == fencing_token,
            DELIVERIES.c.state == UNDECIDED,
        )
        .values(**values, **refund)
        .returning(*columns)
    )
    return conn.execute(stmt).mappings().first()


def set_delivery_decision(
    conn: Connection, delivery_row_id: int, values: Mapping[str, Any]
) -> RowMapping:
    columns = [c for c in DELIVERIES.c if c.name != "body"]
    stmt = (
        update(DELIVERIES)
        .where(DELIVERIES.c.id == delivery_row_id)
        .values(**values)
        .returning(*columns)
    )
    return conn.execute(stmt).mappings().one()


def forget_delivery_bodies(conn: Connection, *, before: float) -> int:
    """Empty the bodies of settled deliveries received before ``before``; how many."""
    result = conn.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.body.is_not(None),
            DELIVERIES.c.state != UNDECIDED,
            DELIVERIES.c.received_at < before,
        )
        .values(body=None)
    )
    return int(result.rowcount or 0)


def undecided_backlog(conn: Connection) -> tuple[int, float | None]:
    """How many deliveries wait for triage, and when the oldest was received."""
    row = conn.execute(
        select(func.count(), func.min(DELIVERIES.c.received_at)).where(
            DELIVERIES.c.state == UNDECIDED
        )
    ).one()
    return int(row[0]), (float(row[1]) if row[1] is not None else None)


def count_deliveries_by_outcome(conn: Connection) -> dict[str, int]:
    """Settled deliveries by outcome; a permanent failure counts as ``failed``."""
    label = func.coalesce(DELIVERIES.c.outcome, DELIVERIES.c.state).label("label")
    settled = select(label).where(DELIVERIES.c.state != UNDECIDED).subquery()
    rows = conn.execute(select(settled.c.label, func.count()).group_by(settled.c.label)).all()
    return {str(name): int(count) for name, count in rows}


def delivery_ids_known(conn: Connection, guids: Sequence[str]) -> set[str]:
    if not guids:
        return set()
    stmt = select(DELIVERIES.c.delivery_id).where(DELIVERIES.c.delivery_id.in_(list(guids)))
    return {str(r[0]) for r in conn.execute(stmt)}


# -- recovery of missed deliveries ---------------------------------------------------------


def recovery_watermark(conn: Connection, name: str) -> int | None:
    stmt = select(WATERMARKS.c.hook_delivery_id).where(WATERMARKS.c.name == name)
    value = conn.execute(stmt).scalar_one_or_none()
    return int(value) if value is not None else None


def set_recovery_watermark(conn: Connection, name: str, hook_delivery_id: int, now: float) -> None:
    updated = conn.execute(
        update(WATERMARKS)
        .where(WATERMARKS.c.name == name)
        .values(hook_delivery_id=hook_delivery_id, updated_at=now)
    )
    if not updated.rowcount:
        _insert_ignoring_conflict(
            conn,
            WATERMARKS,
            {"name": name, "hook_delivery_id": hook_delivery_id, "updated_at": now},
            "name",
        )


def take_sweep_turn(conn: Connection, name: str, owner: str, *, now: float, every: float) -> bool:
    """True when the sweep ``name`` is due (its ``next_at`` has come) and this call took the
    turn, moving ``next_at`` to ``now + every``; False when another process has it."""
    _insert_ignoring_conflict(conn, SWEEPS, {"name": name, "owner": None, "next_at": 0.0}, "name")
    taken = conn.execute(
        update(SWEEPS)
        .where(SWEEPS.c.name == name, SWEEPS.c.next_at <= now)
        .values(owner=owner, next_at=now + every)
    )
    return bool(taken.rowcount)


def insert_recovery(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(RECOVERIES).values(**values))


def recovered_guids_since(
    conn: Connection, guids: Sequence[str], *, since: float
) -> dict[str, int]:
    """Of ``guids``, those the sweep asked GitHub to redeliver after ``since``, each with
    the newest attempt id it asked about."""
    if not guids:
        return {}
    stmt = (
        select(RECOVERIES.c.guid, func.max(RECOVERIES.c.hook_delivery_id))
        .where(RECOVERIES.c.guid.in_(list(guids)), RECOVERIES.c.at >= since)
        .group_by(RECOVERIES.c.guid)
    )
    return {str(guid): int(hook_id) for guid, hook_id in conn.execute(stmt)}


def recoveries_newest_first(conn: Connection, *, limit: int) -> list[RowMapping]:
    stmt = select(RECOVERIES).order_by(RECOVERIES.c.id.desc()).limit(limit)
    return list(conn.execute(stmt).mappings())


def probe_write(conn: Connection, now: float) -> None:
    """A write the caller rolls back: proves the database accepts writes (``/readyz``)."""
    conn.execute(
        insert(WATERMARKS).values(name="readiness-probe", hook_delivery_id=0, updated_at=now)
    )


# -- counts for operators (metrics are computed from these at scrape time) ----------------

READY_STATES = (JobState.QUEUED.value, JobState.PROPOSED.value)


def count_jobs_by_state_or_scheduled(conn: Connection, *, now: float) -> dict[str, int]:
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


def count_pending_outbox_items(conn: Connection) -> int:
    stmt = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.state == "pending")
    return int(conn.execute(stmt).scalar_one())


def oldest_ready_run_after(conn: Connection, *, now: float) -> float | None:
    """The ``run_after`` of the job that has waited longest for a worker, if any waits."""
    stmt = select(func.min(JOBS.c.run_after)).where(
        JOBS.c.state.in_(READY_STATES), JOBS.c.run_after <= now
    )
    value = conn.execute(stmt).scalar_one()
    return float(value) if value is not None else None
