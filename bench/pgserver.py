"""The PostgreSQL server under test: its durability settings, fresh databases, counters.

Every figure is read from the server itself: ``pg_stat_database.xact_commit`` of the
benchmark's own database (commits, read-only transactions included) and
``pg_current_wal_lsn()`` (WAL written by the whole cluster, so other databases' activity
during a run is counted and reported as noise).
"""

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def admin() -> psycopg.Connection:
    return psycopg.connect(f"{SERVER}/postgres", autocommit=True)


def dsn(name: str) -> str:
    return f"{SERVER}/{name}"


def server_facts() -> dict[str, str]:
    """Version and durability settings; the benchmark refuses to run on a non-durable server."""
    facts = {}
    with admin() as conn:
        for setting in ("server_version", *DURABILITY):
            row = conn.execute(f"SHOW {setting}").fetchone()
            facts[setting] = str(row[0]) if row else "?"
    facts["version"] = facts.pop("server_version")
    return facts


@contextmanager
def fresh_database(system: str) -> Iterator[str]:
    """A new, empty database for one run; dropped afterwards. Yields its name."""
    name = f"bench_{system}_{uuid.uuid4().hex[:8]}"
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def execute(name: str, *statements: str) -> None:
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def scalar(name: str, query: str) -> int:
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def settle(name: str) -> None:
    """Vacuum and analyze the loaded tables, then checkpoint, so every run starts alike."""
    execute(name, "VACUUM ANALYZE")
    with admin() as conn:
        conn.execute("CHECKPOINT")


@dataclass(frozen=True)
class Counters:
    commits: int  # xact_commit of the benchmark's database
    wal: int  # bytes since LSN 0/0
    others: int  # xact_commit of every other database (noise)


def counters(name: str, *, wait_for_disconnect: float = 10.0) -> Counters:
    """Read the counters once the database's client backends are gone (they flush at exit)."""
    with admin() as conn:
        deadline = time.monotonic() + wait_for_disconnect
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = %s AND backend_type = 'client backend'",
                (name,),
            ).fetchone()
            if not row or row[0] == 0:
                break
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
        others = conn.execute(
            "SELECT sum(xact_commit) FROM pg_stat_database WHERE datname <> %s", (name,)
        ).fetchone()
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()
    return Counters(
        commits=int(commits[0]) if commits else 0,
        wal=int(wal[0]) if wal else 0,
        others=int(others[0]) if others and others[0] is not None else 0,
    )
