"""The one place where SQLite and PostgreSQL differ; everything else in bot/store is shared.

A :class:`Dialect` owns, for its engine:

- **engine set-up**: SQLite gets WAL, ``synchronous=NORMAL``, a busy timeout and no automatic
  checkpoints (they run under the write lock, bot/store/checkpoints.py), and a connection
  that met a disk I/O error is discarded instead of going back to the pool; PostgreSQL
  uses psycopg 3 and no pool pre-ping (a connection that died with the server raises once,
  SQLAlchemy discards the pool, and the caller sees :class:`~bot.core.errors.StoreUnavailable`);
- **how a write transaction begins**: SQLite begins every write transaction (a connection
  marked with :data:`WRITE_OPTION`) with ``BEGIN IMMEDIATE``, so a write never fails on a lock
  upgrade (a deferred read->write upgrade returns SQLITE_BUSY at once, ignoring the busy
  timeout). Reads begin DEFERRED: under WAL they neither wait for nor block the writer.
  PostgreSQL runs a single-statement write in autocommit (no BEGIN/COMMIT round trips);
- **how rows are claimed**: PostgreSQL locks picked rows ``FOR UPDATE SKIP LOCKED`` and row-locks
  a job it reads to decide a transition; SQLite needs neither, because ``BEGIN IMMEDIATE``
  already admits one writer at a time (so intake serialises its writers on a lock, see
  :attr:`Dialect.one_writer`);
- **writes that return a result**: PostgreSQL runs "write these rows, then update and return"
  as one statement with data-modifying CTEs; SQLite, which has none, runs the same two parts
  as two statements in its write transaction (:meth:`Dialect.write_then_return`);
- **one write on the driver's own connection** (:meth:`Dialect.write_on_driver`), for the
  hottest write (intake's): no SQLAlchemy statement machinery, the transaction spelled out;
  and whether intake writes from the event loop on an async connection
  (:attr:`Dialect.async_intake`: PostgreSQL) and compresses a body it stores for triage
  (:attr:`Dialect.compress_at_intake`: SQLite);
- **insert-or-ignore**, **JSON building** (``json_build_object`` / ``json_object``),
  **JSON rows from a parameter**, and **the clock** (seconds since the epoch; a PostgreSQL
  statement reads it itself unless the caller injects a time).
"""

import contextlib
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import TextClause

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED: another connection holds the lock
SQLITE_IOERR = 10  # the primary code of every "disk I/O error" (extended codes: low byte 10)
# Execution option marking a connection whose transactions will write.
WRITE_OPTION = "farcaster_write"


@dataclass(frozen=True, eq=False)  # two instances, compared and hashed by identity
class Dialect:
    name: str
    # An SQL expression for the database clock, in seconds since the epoch.
    clock: str
    # The time of a statement: ``:now`` when the caller gives one; PostgreSQL reads its own
    # clock when ``:now`` is NULL, which saves the round trip of a separate clock read.
    statement_now: str
    reads_clock_in_statement: bool
    # Appended to a SELECT that picks rows to lease.
    skip_locked: str
    # True when the engine admits one writer at a time (callers may queue on a lock instead).
    one_writer: bool
    # True when intake writes from the event loop on an async driver connection of its own
    # (psycopg's AsyncConnection; see ``_PgLoopWriter`` in bot/store/deliveries.py).
    async_intake: bool
    # True when intake stores a delivery's body compressed even while it waits for triage.
    # SQLite: this process does the storage, and a raw 15 KB body is four overflow pages
    # written to the WAL and copied again by the checkpoint, which cost more than zlib level
    # 1 (measured: 265-278 against 318 us of server CPU a delivery at concurrency 64).
    # PostgreSQL: the server stores it, so the request saves the compression; triage
    # compresses it when it settles the delivery (bot/store/deliveries.py, Body).
    compress_at_intake: bool
    # The JSON object builder: ``{json_object}('key', value, ...)``.
    json_object: str
    # Execution options of a connection that runs one atomic write statement.
    single_statement_options: Mapping[str, Any]

    def create_engine(self, url: str, *, pool_size: int) -> Engine:
        raise NotImplementedError

    def insert_ignoring(self, table: Table, values: Mapping[str, Any], key: str) -> Any:
        """``INSERT ... ON CONFLICT (key) DO NOTHING``; add ``.returning(...)`` to learn
        whether a row was written."""
        raise NotImplementedError

    def param(self, number: int) -> str:
        """The placeholder of positional parameter ``number`` (from 1) in the SQL of
        :meth:`write_on_driver`: sqlite3's qmark, psycopg's raw cursors' ``$n``."""
        return "?"

    def hold_driver(self, dbapi_connection: Any, *, busy_timeout_ms: int) -> None:
        """Ready a driver connection taken from the pool for :meth:`write_on_driver`
        (SQLite: how long a write waits for another writer's lock; PostgreSQL: autocommit)."""
        raise NotImplementedError

    def release_driver(self, dbapi_connection: Any) -> None:
        """Undo :meth:`hold_driver` before the connection goes back to the pool."""
        raise NotImplementedError

    def column_storage(self, table: str, column: str, storage: str) -> str | None:
        """PostgreSQL: the statement that sets how ``column`` is stored (``EXTERNAL``: out of
        line, not compressed by the server; ``EXTENDED``: its default); a migration runs it.
        SQLite has no such setting (None)."""
        return None

    def discards_connection(self, exc: BaseException | None) -> bool:
        """Whether a connection that raised driver error ``exc`` must be closed, not used
        again, though the server did not close it: SQLite's disk I/O errors, after which a
        connection can stay in SQLite's error state. The engine's error handling and
        intake's held connections (bot/store/deliveries.py) both ask this."""
        return False

    # SQLite: WAL checkpoints are this process's to run (bot/store/checkpoints.py).
    checkpoints_under_write_lock: ClassVar[bool] = False

    def checkpoint(self, holder: Any, checkpointer: Any, *, lock_wait_ms: int) -> bool:
        """SQLite: copy what the WAL holds into the database on driver connection
        ``checkpointer`` while driver connection ``holder`` holds the write lock (waiting
        ``lock_wait_ms`` for it); False when the lock stayed taken."""
        return False

    def write_on_driver(
        self, dbapi_connection: Any, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]:
        """Run ``statements`` (the driver's own SQL, :meth:`param` placeholders) as one
        atomic write on a held driver connection; the rows each returned. One statement runs
        alone in the driver's autocommit mode (on PostgreSQL one round trip; on SQLite it
        takes the write lock as ``BEGIN IMMEDIATE`` would); several run in a transaction
        (SQLite: ``BEGIN IMMEDIATE`` ... ``COMMIT``). Driver errors are raised as they are:
        the caller wraps them as SQLAlchemy would (see ``Deliveries`` in
        bot/store/deliveries.py). This is for the hottest write (intake's), where
        SQLAlchemy's statement machinery cost more than the write itself."""
        raise NotImplementedError

    def set_busy_timeout(self, conn: Connection, ms: int | None) -> None:
        """How long this connection waits for another writer's lock (None: the default).
        Only SQLite waits on a whole-database lock; PostgreSQL locks rows."""

    def lock_row(self, stmt: Select[Any]) -> Select[Any]:
        """A SELECT of a row the transaction is about to move (SQLite's write lock suffices)."""
        return stmt

    def lock_of(self, table: str) -> str:
        """Appended to a SELECT whose ``table`` rows the statement is about to move."""
        return ""

    def json_rows(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        """A FROM item with one row per object of the JSON array parameter ``:param``:
        ``columns`` are (name, SQL type) pairs; a ``json`` column keeps its JSON."""
        raise NotImplementedError

    def write_then_return(self, ctes: str, write: str, returning: str) -> tuple[TextClause, ...]:
        """Statements that run ``write`` and then ``returning`` (an UPDATE ... RETURNING),
        both over ``ctes`` as they were before either. Run them in order; the last one's rows
        are the result. ``write`` must not change what ``ctes`` read."""
        raise NotImplementedError


class _Postgres(Dialect):
    def column_storage(self, table: str, column: str, storage: str) -> str | None:
        return f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE {storage}"

    def create_engine(self, url: str, *, pool_size: int) -> Engine:
        # No pool_pre_ping: it costs a round trip per transaction (see the module docstring).
        return create_engine(url, pool_size=pool_size, max_overflow=pool_size)

    def insert_ignoring(self, table: Table, values: Mapping[str, Any], key: str) -> Any:
        return (
            postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
        )

    def lock_row(self, stmt: Select[Any]) -> Select[Any]:
        return stmt.with_for_update()

    def hold_driver(self, dbapi_connection: Any, *, busy_timeout_ms: int) -> None:
        # A lone statement commits by itself: psycopg would otherwise send BEGIN first.
        dbapi_connection.autocommit = True

    def release_driver(self, dbapi_connection: Any) -> None:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = False

    def write_on_driver(
        self, dbapi_connection: Any, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]:
        # A raw cursor sends $n placeholders as they are: a normal one parses the query for
        # %s on every call once it has more than 50 parameters (a batch of five deliveries),
        # which cost intake about 35 us a delivery.
        import psycopg

        def run(sql: str, params: Sequence[Any]) -> list[Any]:
            return _run(dbapi_connection, sql, params, cursor=psycopg.RawCursor(dbapi_connection))

        if len(statements) == 1:
            return [run(*statements[0])]
        with dbapi_connection.transaction():
            return [run(sql, params) for sql, params in statements]

    def param(self, number: int) -> str:
        return f"${number}"

    def lock_of(self, table: str) -> str:
        return f" FOR UPDATE OF {table}"

    def json_rows(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        spec = ", ".join(f"{name} {type_}" for name, type_ in columns)
        return f"json_to_recordset(CAST(:{param} AS json)) AS {param}({spec})"

    def write_then_return(self, ctes: str, write: str, returning: str) -> tuple[TextClause, ...]:
        # Every part of a statement sees the same snapshot, taken before any of them wrote.
        return (
            text(
                f"WITH {ctes}, written AS ({write}), returned AS ({returning})"
                " SELECT * FROM returned"
            ),
        )


class _Sqlite(Dialect):
    def create_engine(self, url: str, *, pool_size: int) -> Engine:
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let the "begin" event emit BEGIN itself instead of pysqlite's deferred BEGIN.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints run only under the write lock: bot/store/checkpoints.py says why.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            writes = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

        @event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> None:
            # A connection that met a disk I/O error can stay in SQLite's error state and
            # fail every later call (seen after SIGKILLed workers: one pooled connection
            # failed for minutes while the others worked). Discard that one connection;
            # the pool opens a fresh one, and the rest of the pool stays.
            if self.discards_connection(context.original_exception):
                context.is_disconnect = True
                context.invalidate_pool_on_disconnect = False

        return engine

    def hold_driver(self, dbapi_connection: Any, *, busy_timeout_ms: int) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

    def release_driver(self, dbapi_connection: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def discards_connection(self, exc: BaseException | None) -> bool:
        code = getattr(exc, "sqlite_errorcode", None)
        return isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF == SQLITE_IOERR

    checkpoints_under_write_lock = True

    def checkpoint(self, holder: Any, checkpointer: Any, *, lock_wait_ms: int) -> bool:
        holder.execute(f"PRAGMA busy_timeout={int(lock_wait_ms)}")
        try:
            try:
                holder.execute("BEGIN IMMEDIATE")  # no commit can reset the WAL meanwhile
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in SQLITE_BUSY_CODES:
                    return False  # another writer held on to it: the next turn
                raise
            try:
                checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                holder.execute("ROLLBACK")
            return True
        finally:
            holder.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def write_on_driver(
        self, dbapi_connection: Any, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]:
        # The connection is in the driver's autocommit mode (isolation_level None, see
        # create_engine). A lone statement is its own transaction: a write statement that
        # begins no earlier read takes the write lock at once, waiting for it as BEGIN
        # IMMEDIATE would (the busy timeout applies). Several: BEGIN IMMEDIATE ... COMMIT.
        if len(statements) == 1:
            return [_run(dbapi_connection, *statements[0])]
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE")
            results = [_run(dbapi_connection, sql, params) for sql, params in statements]
            dbapi_connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to raise
                if dbapi_connection.in_transaction:
                    dbapi_connection.execute("ROLLBACK")
            raise
        return results

    def set_busy_timeout(self, conn: Connection, ms: int | None) -> None:
        # On the driver's connection: through SQLAlchemy the PRAGMA would begin a transaction.
        timeout = SQLITE_BUSY_TIMEOUT_MS if ms is None else ms
        conn.connection.dbapi_connection.execute(f"PRAGMA busy_timeout={int(timeout)}")  # type: ignore[union-attr]

    def insert_ignoring(self, table: Table, values: Mapping[str, Any], key: str) -> Any:
        return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])

    def json_rows(self, param: str, columns: Sequence[tuple[str, str]]) -> str:
        picks = ", ".join(
            f"json_extract(value, '$.{name}') AS {name}"
            if type_ == "json"  # json_extract returns an object as its JSON text
            else f"CAST(json_extract(value, '$.{name}') AS {type_}) AS {name}"
            for name, type_ in columns
        )
        return f"(SELECT {picks} FROM json_each(:{param})) AS {param}"

    def write_then_return(self, ctes: str, write: str, returning: str) -> tuple[TextClause, ...]:
        # No data-modifying CTEs: two statements in the write transaction, which holds the
        # write lock, so the second evaluates ``ctes`` over the same rows as the first.
        return text(f"WITH {ctes} {write}"), text(f"WITH {ctes} {returning}")


def _run(
    dbapi_connection: Any, sql: str, params: Sequence[Any], *, cursor: Any = None
) -> list[Any]:
    """One statement on a driver connection (on ``cursor``, else a new one of its own); its
    rows (none fetched when it returns none)."""
    cursor = dbapi_connection.cursor() if cursor is None else cursor
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    finally:
        cursor.close()


POSTGRES: Dialect = _Postgres(
    name="postgresql",
    clock="(extract(epoch from clock_timestamp())::double precision)",
    # statement_timestamp() is one instant for the whole statement.
    statement_now=(
        "COALESCE(CAST(:now AS double precision), EXTRACT(EPOCH FROM statement_timestamp()))"
    ),
    reads_clock_in_statement=True,
    skip_locked=" FOR UPDATE SKIP LOCKED",
    one_writer=False,
    async_intake=True,
    compress_at_intake=False,
    json_object="json_build_object",
    single_statement_options={"isolation_level": "AUTOCOMMIT"},
)

SQLITE: Dialect = _Sqlite(
    name="sqlite",
    clock="((julianday('now') - 2440587.5) * 86400.0)",
    statement_now="CAST(:now AS REAL)",
    reads_clock_in_statement=False,
    skip_locked="",
    one_writer=True,
    async_intake=False,
    compress_at_intake=True,
    json_object="json_object",
    single_statement_options={WRITE_OPTION: True},
)

_BY_NAME = {d.name: d for d in (POSTGRES, SQLITE)}


def for_url(url: str) -> Dialect:
    return _BY_NAME[make_url(url).get_backend_name()]


def of(conn: Connection | Engine) -> Dialect:
    return _BY_NAME[conn.dialect.name]
