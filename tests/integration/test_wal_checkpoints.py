"""SQLite's WAL checkpoints run only under the write lock (bot/store/checkpoints.py): no
connection checkpoints by itself, a process checkpoints every N commits, and a checkpoint
that cannot get the write lock is skipped instead of racing a writer."""

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.store.checkpoints import WalCheckpoints
from bot.store.database import Database


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "wal.db"


@pytest.fixture
def db(path: Path) -> Database:
    database = Database.from_url(f"sqlite:///{path}")
    with database.transaction() as conn:
        conn.execute(text("CREATE TABLE notes (n INTEGER)"))
    database.checkpoints = WalCheckpoints(database.engine, database.dialect, every=3)
    assert database.checkpoints.run()  # the table is in the database file from here on
    yield database
    database.dispose()


def file_digest(path: Path) -> str:
    """The main database file's bytes: in WAL mode only a checkpoint changes them."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(db: Database, n: int) -> None:
    with db.transaction() as conn:
        conn.execute(text("INSERT INTO notes VALUES (:n)"), {"n": n})


def test_no_connection_checkpoints_by_itself(db: Database) -> None:
    with db.read() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0


def test_every_nth_commit_checkpoints_the_wal_into_the_database_file(db, path) -> None:
    before = file_digest(path)
    write(db, 1)
    write(db, 2)
    assert file_digest(path) == before  # two commits: still only in the WAL
    write(db, 3)
    assert file_digest(path) != before
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM notes").fetchone() == (3,)


def test_a_checkpoint_waits_for_no_writer_and_is_skipped_while_one_holds_the_lock(
    db, path, monkeypatch
) -> None:
    monkeypatch.setattr("bot.store.checkpoints.LOCK_WAIT_MS", 50)
    write(db, 1)
    before = file_digest(path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert db.checkpoints.run() is False
        assert file_digest(path) == before
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert db.checkpoints.run() is True
    assert file_digest(path) != before
