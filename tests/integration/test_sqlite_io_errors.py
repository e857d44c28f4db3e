"""A SQLite connection that met a disk I/O error is discarded, not handed out again
(bot/store/dialect.py), and the store's sentence names SQLite's extended code.

The I/O error is real: the WAL file is cut short under the database, so reading a page
from it comes up short (SQLITE_IOERR_SHORT_READ); putting its bytes back heals the file.
"""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from bot.core.errors import StoreUnavailable
from bot.store.database import Database

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


def test_a_connection_that_met_a_disk_io_error_is_replaced(db: Database, tmp_path: Path) -> None:
    wal = tmp_path / "io.db-wal"
    saved = wal.read_bytes()  # no checkpoint ran: the rows live in the WAL alone
    # Another connection stays open, so closing the pool's is not the last close (which
    # would checkpoint the WAL away).
    keeper = sqlite3.connect(tmp_path / "io.db")
    keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()  # it has the WAL open
    db.engine.dispose()
    opened: list[object] = []
    event.listen(db.engine.pool, "connect", lambda dbapi, _record: opened.append(dbapi))
    try:
        with db.engine.connect():
            pass  # a pooled connection, opened while the WAL was whole, no rows read yet
        wal.write_bytes(saved[:4096])
        with pytest.raises(StoreUnavailable) as caught:
            total(db)
        assert "disk I/O error (SQLITE_IOERR_SHORT_READ)" in caught.value.message

        wal.write_bytes(saved)
        assert total(db) == ROWS * 1000
        assert len(opened) == 2  # the one that failed was closed, not pooled again
    finally:
        keeper.close()
