"""The database handle shared by every store module: engine, dialect, clock, transactions.

Every connection the store opens comes from :meth:`Database.read`, :meth:`Database.transaction`
or :meth:`Database.single_statement`, and that is where driver errors stop: a
``sqlalchemy.exc.DBAPIError`` (or a pool timeout) leaving one of them becomes
:class:`~bot.core.errors.StoreUnavailable` (retryable, with a sentence saying what failed),
and an integrity error becomes :class:`~bot.core.errors.WriteConflict`. Nothing above the
store catches a driver exception.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.core.errors import StoreUnavailable, WriteConflict
from bot.store import dialect as dialects
from bot.store.checkpoints import WalCheckpoints
from bot.store.dialect import WRITE_OPTION
from bot.store.engine import make_engine

T = TypeVar("T")


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = dialects.of(engine)
        self.checkpoints = WalCheckpoints(engine, self.dialect)
        self._clock = text(f"SELECT {self.dialect.clock}")

    @classmethod
    def from_url(cls, url: str) -> "Database":
        return cls(make_engine(url))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads. It begins DEFERRED on SQLite (bot/store/dialect.py), so it
        neither waits for nor blocks a writer under WAL; open ``conn.begin()`` on it for one
        consistent snapshot over several statements."""
        with translated_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it begins IMMEDIATE (bot/store/dialect.py)."""
        with translated_errors(), self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
        self.checkpoints.committed()

    @contextmanager
    def single_statement(self, *, busy_timeout_ms: int | None = None) -> Iterator[Connection]:
        """For a write that is atomic as the statements :meth:`Dialect.write_then_return`
        gives: autocommit on PostgreSQL (one statement, no BEGIN and COMMIT round trips), a
        write transaction on SQLite. ``busy_timeout_ms`` bounds how long SQLite waits for
        another writer's lock (intake gives up early and answers 503)."""
        with translated_errors(), self.engine.connect() as conn:
            conn.execution_options(**self.dialect.single_statement_options)
            if busy_timeout_ms is not None:
                self.dialect.set_busy_timeout(conn, busy_timeout_ms)
            try:
                with conn.begin():
                    yield conn
            finally:
                if busy_timeout_ms is not None:
                    self.dialect.set_busy_timeout(conn, None)
        self.checkpoints.committed()

    def now(self, conn: Connection, now: float | None = None) -> float:
        """The database clock, unless the caller injects a time (tests do, to expire leases)."""
        if now is not None:
            return now
        return float(conn.execute(self._clock).scalar_one())

    def statement_now(self, conn: Connection, now: float | None) -> float | None:
        """The ``:now`` of a statement written with ``dialect.statement_now``: the injected
        time; else None where the statement reads the clock itself (one round trip less),
        or the database clock read now."""
        if now is not None or not self.dialect.reads_clock_in_statement:
            return self.now(conn, now)
        return None

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def translated_errors() -> Iterator[None]:
    """Driver errors leaving the block become the store's errors (see the module docstring)."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(
            f"A concurrent write got there first ({_driver_line(exc)}); running again resolves it."
        ) from exc
    except (DBAPIError, PoolTimeout) as exc:
        raise StoreUnavailable(_unavailable_sentence(exc)) from exc


def lost_connection(exc: BaseException) -> bool:
    """True when ``exc`` came from a connection the server had closed (SQLAlchemy has then
    discarded the pool): the same call on a fresh connection is worth one more try."""
    cause = exc.__cause__
    return isinstance(cause, DBAPIError) and bool(cause.connection_invalidated)


def once_more_if_lost(call: Callable[[], T]) -> T:
    """``call()``, and once more when it failed on a connection the server had closed (a
    restarted PostgreSQL), so a dead pool costs no answer."""
    try:
        return call()
    except StoreUnavailable as exc:
        if not lost_connection(exc):
            raise
        return call()


def _unavailable_sentence(exc: Exception) -> str:
    line = _driver_line(exc)
    if "no such table" in line or ("relation" in line and "does not exist" in line):
        return f"The database is not migrated ({line}). Run `farcaster db upgrade`."
    return f"The database could not serve the call: {line}."


def _driver_line(exc: Exception) -> str:
    """The first line of the driver's own message (never the SQL or its parameters)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    line = f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__
    # SQLite's extended code says which I/O failed ("disk I/O error" alone does not).
    extended = getattr(orig, "sqlite_errorname", None)
    return f"{line} ({extended})" if extended else line
