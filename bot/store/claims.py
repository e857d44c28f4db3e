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

from typing import Any

from sqlalchemy import Connection, text

from bot.records import Lease, Phase
from bot.store.rows import JOB_COLUMNS, job_from_row
from bot.store.statements import append_events

_CANDIDATES = """
    SELECT id, state AS prev_state, lease_owner AS prev_owner,
           lease_expires_at AS prev_expires_at
    FROM jobs
    WHERE (state = :ready AND run_after <= :now)
       OR (state = :leased AND lease_expires_at < :now AND attempts < max_attempts)
    ORDER BY run_after, id
    LIMIT :limit
"""

_CLAIM_POSTGRES = text(
    f"""
    WITH picked AS ({_CANDIDATES} FOR UPDATE SKIP LOCKED)
    UPDATE jobs SET state = :leased, lease_owner = :owner,
        lease_expires_at = :now + :lease_seconds,
        fencing_token = jobs.fencing_token + 1, attempts = jobs.attempts + 1, updated_at = :now
    FROM picked WHERE jobs.id = picked.id
    RETURNING {", ".join("jobs." + c.strip() for c in JOB_COLUMNS.split(","))},
        picked.prev_state, picked.prev_owner, picked.prev_expires_at
    """
)

_CANDIDATES_SQLITE = text(_CANDIDATES)

_CLAIM_SQLITE = text(
    f"""
    UPDATE jobs SET state = :leased, lease_owner = :owner,
        lease_expires_at = :now + :lease_seconds,
        fencing_token = fencing_token + 1, attempts = attempts + 1, updated_at = :now
    WHERE id = :id
    RETURNING {JOB_COLUMNS}
    """
)

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
    now: float,
    lease_seconds: float,
    limit: int,
) -> list[Lease]:
    params: dict[str, Any] = {
        "ready": phase.ready_state.value,
        "leased": phase.leased_state.value,
        "now": now,
        "limit": limit,
        "owner": owner,
        "lease_seconds": lease_seconds,
    }
    if conn.dialect.name == "postgresql":
        rows = [dict(r) for r in conn.execute(_CLAIM_POSTGRES, params).mappings()]
    else:
        rows = []
        for candidate in conn.execute(_CANDIDATES_SQLITE, params).mappings().all():
            row = dict(
                conn.execute(_CLAIM_SQLITE, {**params, "id": candidate["id"]}).mappings().one()
            )
            rows.append({**row, **candidate})
    leases = []
    events: list[dict[str, Any]] = []
    for row in sorted(rows, key=lambda r: (r["run_after"], r["id"])):
        job = job_from_row(row)
        if row["prev_state"] == phase.leased_state.value:
            events.append(
                {
                    "job_id": job.id,
                    "at": now,
                    "kind": "lease_expired",
                    "attempt": job.attempts - 1,
                    "fencing_token": job.fencing_token - 1,
                    "data": {"owner": row["prev_owner"], "expired_at": row["prev_expires_at"]},
                }
            )
        events.append(
            {
                "job_id": job.id,
                "at": now,
                "kind": "claimed",
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
        assert job.lease_expires_at is not None
        leases.append(
            Lease(job=job, token=job.fencing_token, expires_at=job.lease_expires_at, owner=owner)
        )
    append_events(conn, events)
    return leases


def heartbeat_if_token(
    conn: Connection, *, job_id: str, token: int, now: float, lease_seconds: float
) -> bool:
    result = conn.execute(
        _HEARTBEAT, {"id": job_id, "token": token, "now": now, "lease_seconds": lease_seconds}
    )
    return result.rowcount == 1
