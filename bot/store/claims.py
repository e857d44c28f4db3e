"""Leases: how a runner claims jobs, keeps them, and how expired ones come back.

The spec, in five lines:

1. A claim is one UPDATE that sets ``lease_owner``, ``lease_expires_at = now + lease`` and
   ``fencing_token = fencing_token + 1`` on jobs that are ready (``run_after <= now``) or
   whose lease expired (reclaim happens inside the claim query; no separate reaper needed).
2. ``now`` is the database clock, so runners on several machines agree.
3. PostgreSQL picks rows with ``FOR UPDATE SKIP LOCKED``; SQLite runs the same steps inside
   a ``BEGIN IMMEDIATE`` transaction, which admits one writer at a time.
4. A claim of an expired lease counts as a new attempt and is recorded as ``lease_expired``
   followed by ``claimed``, in the same transaction as the claim.
5. A heartbeat extends the lease only while the caller's token is current; when it touches
   no row the lease is lost and the caller must stop.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, text

from bot.core.records import Job, Lease, Phase
from bot.core.vocab import EventKind
from bot.store.rows import JOB_COLUMNS, job_from_row
from bot.store.statements import PG_NOW, append_events

# Two index-friendly halves instead of one ``OR``: with an ``OR`` PostgreSQL scans and sorts
# every runnable row on each claim (8 ms at 30,000 queued jobs), whereas each half walks its
# own (state, ...) index and stops after ``:limit`` rows. The top ``:limit`` of both halves,
# in (run_after, id) order, are exactly the rows the single ``OR`` query would pick.
_COLUMNS = """
    SELECT id, run_after, state AS prev_state, lease_owner AS prev_owner,
           lease_expires_at AS prev_expires_at
    FROM jobs
"""


def _expired(now: str) -> str:
    return f"""{_COLUMNS}
    WHERE state = :leased AND lease_expires_at < {now} AND attempts < max_attempts
    ORDER BY run_after, id
    LIMIT :limit
    """


def _ready(now: str) -> str:
    return f"""{_COLUMNS}
    WHERE state = :ready AND run_after <= {now}
    ORDER BY run_after, id
    LIMIT :limit
    """


# PostgreSQL rejects FOR UPDATE on the inputs of a UNION, so each half locks in its own CTE.
# Rows locked by a half but cut by the final LIMIT stay locked only until this commit.
# The events are appended by the same statement (as pgqueuer logs its picks): per job, a
# ``lease_expired`` for a reclaim, then ``claimed``, in (run_after, id) order, with the same
# data as the SQLite path writes from Python. The statement reads the clock itself (PG_NOW).
_CLAIM_POSTGRES = text(
    f"""
    WITH expired AS MATERIALIZED ({_expired(PG_NOW)} FOR UPDATE SKIP LOCKED),
    ready AS MATERIALIZED ({_ready(PG_NOW)} FOR UPDATE SKIP LOCKED),
    picked AS (
        SELECT * FROM expired UNION ALL SELECT * FROM ready
        ORDER BY run_after, id LIMIT :limit
    ),
    claimed AS (
        UPDATE jobs SET state = :leased, lease_owner = :owner,
            lease_expires_at = {PG_NOW} + :lease_seconds,
            fencing_token = jobs.fencing_token + 1, attempts = jobs.attempts + 1,
            updated_at = {PG_NOW}
        FROM picked WHERE jobs.id = picked.id
        RETURNING {", ".join("jobs." + c.strip() for c in JOB_COLUMNS.split(","))},
            picked.prev_state, picked.prev_owner, picked.prev_expires_at
    ),
    logged AS (
        INSERT INTO job_events (job_id, at, kind, attempt, fencing_token, data)
        SELECT id, updated_at, kind, attempt, token, data FROM (
            SELECT id, updated_at, run_after, 0 AS step, 'lease_expired' AS kind,
                attempts - 1 AS attempt, fencing_token - 1 AS token,
                json_build_object('owner', prev_owner, 'expired_at', prev_expires_at) AS data
            FROM claimed WHERE prev_state = :leased
            UNION ALL
            SELECT id, updated_at, run_after, 1, 'claimed', attempts, fencing_token,
                json_build_object(
                    'phase', CAST(:phase AS text), 'owner', CAST(:owner AS text),
                    'lease_expires_at', lease_expires_at, 'previous_owner', prev_owner,
                    'previous_lease_expires_at', prev_expires_at)
            FROM claimed
        ) AS e ORDER BY run_after, id, step
    )
    SELECT * FROM claimed
    """
)

_CANDIDATES_SQLITE = text(
    f"""
    SELECT * FROM ({_expired(":now")}) UNION ALL SELECT * FROM ({_ready(":now")})
    ORDER BY run_after, id LIMIT :limit
    """
)

_CLAIM_SQLITE = text(
    f"""
    UPDATE jobs SET state = :leased, lease_owner = :owner,
        lease_expires_at = :now + :lease_seconds,
        fencing_token = fencing_token + 1, attempts = attempts + 1, updated_at = :now
    WHERE id IN :ids
    RETURNING {JOB_COLUMNS}
    """
).bindparams(bindparam("ids", expanding=True))

_HEARTBEAT = text(
    """
    UPDATE jobs SET lease_expires_at = :now + :lease_seconds, updated_at = :now
    WHERE id = :id AND fencing_token = :token AND state IN ('running', 'applying')
    """
)


def claim_jobs(
    conn: Connection,
    *,
    owner: str,
    phase: Phase,
    now: float | None,
    lease_seconds: float,
    limit: int,
) -> list[Lease]:
    """Claim up to ``limit`` jobs of ``phase`` for ``owner``, with their events.

    ``now=None`` (PostgreSQL only) lets the claim statement read the database clock.
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
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        rows = [dict(r) for r in conn.execute(_CLAIM_POSTGRES, params).mappings()]
    else:
        # BEGIN IMMEDIATE already holds the write lock: nobody can take these meanwhile.
        candidates = {c["id"]: dict(c) for c in conn.execute(_CANDIDATES_SQLITE, params).mappings()}
        rows = []
        if candidates:
            claimed = conn.execute(_CLAIM_SQLITE, {**params, "ids": list(candidates)}).mappings()
            rows = [{**row, **candidates[row["id"]]} for row in claimed]
    leases = []
    events: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["run_after"], r["id"])):
        job = job_from_row(row)
        if not postgres:  # PostgreSQL wrote them in the claim statement
            events += _claim_events(job, row, phase=phase, owner=owner, now=job.updated_at)
        assert job.lease_expires_at is not None
        leases.append(
            Lease(job=job, token=job.fencing_token, expires_at=job.lease_expires_at, owner=owner)
        )
    append_events(conn, events)
    return leases


def _claim_events(
    job: Job, row: Mapping[str, Any], *, phase: Phase, owner: str, now: float
) -> list[dict[str, Any]]:
    """The events of one claim: ``lease_expired`` first when it was a reclaim, then ``claimed``."""
    events = []
    if row["prev_state"] == phase.leased_state.value:
        events.append(
            {
                "job_id": job.id,
                "at": now,
                "kind": EventKind.LEASE_EXPIRED,
                "attempt": job.attempts - 1,
                "fencing_token": job.fencing_token - 1,
                "data": {"owner": row["prev_owner"], "expired_at": row["prev_expires_at"]},
            }
        )
    events.append(
        {
            "job_id": job.id,
            "at": now,
            "kind": EventKind.CLAIMED,
            "attempt": job.attempts,
            "fencing_token": job.fencing_token,
            "data": {
                "phase": phase.value,
                "owner": owner,
                "lease_expires_at": job.lease_expires_at,
                "previous_owner": row["prev_owner"],
                "previous_lease_expires_at": row["prev_expires_at"],
            },
        }
    )
    return events


def heartbeat_if_token(
    conn: Connection, *, job_id: str, token: int, now: float, lease_seconds: float
) -> bool:
    result = conn.execute(
        _HEARTBEAT, {"id": job_id, "token": token, "now": now, "lease_seconds": lease_seconds}
    )
    return result.rowcount == 1
