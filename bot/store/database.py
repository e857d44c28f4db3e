"""The database handle shared by every store module: engine, clock and transactions."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

from bot.store.engine import WRITE_OPTION, clock_sql, is_sqlite, make_engine


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = is_sqlite(engine)
        self._clock = text(f"SELECT {clock_sql(engine)}")

    @classmethod
    def from_url(cls, url: str) -> "Database":
        return cls(make_engine(url))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it begins IMMEDIATE (see bot/store/engine.py).

        Reads outside it (``engine.connect()``) begin DEFERRED and so never wait for, or
        block, a writer under WAL.
        """
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def single_statement(self) -> Iterator[Connection]:
        """For work that is one atomic statement on PostgreSQL (the claim, ``complete_many``):
        autocommit, so no BEGIN and COMMIT round trips around it. On SQLite, which needs
        several statements under BEGIN IMMEDIATE for the same work, a write transaction.
        """
        if self.sqlite:
            with self.transaction() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    def now(self, conn: Connection, now: float | None = None) -> float:
        """The database clock, unless the caller injects a time (tests do, to expire leases)."""
        if now is not None:
            return now
        return float(conn.execute(self._clock).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()
