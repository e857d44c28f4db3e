"""Engines for the two supported databases and the one place their clocks differ.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction (those
opened by ``Database.transaction``, marked with :data:`WRITE_OPTION`), so a write never fails
on a lock upgrade (a deferred read->write upgrade returns SQLITE_BUSY at once, ignoring the
busy timeout). Reads begin DEFERRED: under WAL they neither wait for nor block the writer.
PostgreSQL: psycopg 3.
"""

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option marking a connection whose transactions will write.
WRITE_OPTION = "farcaster_write"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    # No pool_pre_ping: it costs a round trip per transaction. A connection that died with
    # the server raises a disconnect error once; SQLAlchemy then discards the whole pool and
    # the worker loop counts it as a retryable failure.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself instead of pysqlite's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        writes = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def clock_sql(engine: Engine) -> str:
    """An SQL expression for the database clock, in seconds since the epoch."""
    if is_sqlite(engine):
        return "((julianday('now') - 2440587.5) * 86400.0)"
    return "(extract(epoch from clock_timestamp())::double precision)"
