"""A SQLite connection that met a disk I/O error is discarded, not handed out again: the
pool's (bot/store/dialect.py) and intake's held one (bot/store/deliveries.py); and the
store's sentence names SQLite's extended code.

The I/O error is real: the WAL file is cut short under the database, so reading a page
from it comes up short (SQLITE_IOERR_SHORT_READ); putting its bytes back heals the file.
"""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, text

from bot.core.errors import StoreUnavailable
from bot.store.database import Database, lost_connection
from bot.store.deliveries import Deliveries
from bot.store.outbox import Outbox
from bot.store.store import Store

ROWS = 200


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.from_url(f"sqlite:///{tmp_path / 'io.db'}")
    with database.transaction() as conn:
        conn.execute(text("CREATE TABLE notes (body BLOB)"))
        conn.execute(
            text("INSERT INTO notes SELECT randomblob(1000) FROM json_each(:n)"),
            {"n": "[" + ",".join(["0"] * ROWS) + "]"},
        )
    yield database
    database.dispose()


def total(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(text("SELECT sum(length(body)) FROM notes")).scalar_one())


@contextmanager
def cuttable_wal(db: Database, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """A function that cuts the WAL to its first 4 KiB; whole again after the block.

    Another connection stays open meanwhile, so closing the pool's is not the last close
    (which would checkpoint the WAL away); the pool's connections are closed on entry, so a
    connection opened in the block has none of the rows cached."""
    wal = tmp_path / "io.db-wal"
    saved = wal.read_bytes()  # no checkpoint ran: the rows live in the WAL alone
    keeper = sqlite3.connect(tmp_path / "io.db")
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()  # it has the WAL open
    db.engine.dispose()
    try:
        yield lambda: wal.write_bytes(saved[:4096])
    finally:
        wal.write_bytes(saved)
        keeper.close()


def test_a_connection_that_met_a_disk_io_error_is_replaced(db: Database, tmp_path: Path) -> None:
    opened: list[object] = []
    event.listen(db.engine.pool, "connect", lambda dbapi, _record: opened.append(dbapi))
    with cuttable_wal(db, tmp_path) as cut:
        with db.engine.connect():
            pass  # a pooled connection, opened while the WAL is whole, no rows read yet
        cut()
        with pytest.raises(StoreUnavailable) as caught:
            total(db)
        assert "disk I/O error (SQLITE_IOERR_SHORT_READ)" in caught.value.message
    assert total(db) == ROWS * 1000
    assert len(opened) == 2  # the one that failed was closed, not pooled again


def test_intakes_held_connection_is_let_go_after_a_disk_io_error(
    db: Database, tmp_path: Path
) -> None:
    inbox = Deliveries(db, Store(db), Outbox(db))
    with cuttable_wal(db, tmp_path) as cut:
        with inbox._driver("_held", 1000):
            pass  # intake's writer holds a connection, opened while the WAL is whole
        cut()
        with pytest.raises(StoreUnavailable) as caught, inbox._driver("_held", 1000) as driver:
            driver.execute("SELECT sum(length(body)) FROM notes").fetchone()
        assert "SQLITE_IOERR_SHORT_READ" in caught.value.message
        assert lost_connection(caught.value)  # worth one more try, on a fresh connection
        assert inbox._held is None  # not kept for the next batch
