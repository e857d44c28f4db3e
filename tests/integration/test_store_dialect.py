"""The engine seam on SQLite and PostgreSQL: driver errors stop at the store's boundary, and
the parts each dialect owns (insert-or-ignore, the clock, JSON rows) behave alike."""

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.core.errors import StoreError, StoreUnavailable, WriteConflict
from bot.core.records import JobState, NewJob
from bot.store import Database, Store
from bot.store import statements as st
from bot.store.tables import JOBS
from tests.databases import pg_url


def new_job(n: int) -> NewJob:
    return NewJob(
        id=f"job{n:04d}",
        idempotency_key=f"comment:{n}",
        repo="octo/widgets",
        agent="replace",
        command={"name": "replace", "pattern": "a", "replacement": "b", "paths": []},
    )


def a_closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_url(engine: str, tmp_path: Path) -> str:
    if engine == "sqlite":
        return f"sqlite:///{tmp_path}/no/such/directory/farcaster.db"
    return pg_url("farcaster").replace("5432", str(a_closed_port()))


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_an_unreachable_database_is_a_retryable_store_error_with_a_sentence(
    engine: str, tmp_path: Path
) -> None:
    db = Database.from_url(unreachable_url(engine, tmp_path))
    store = Store(db)
    try:
        for call in (lambda: store.get("job0000"), lambda: store.enqueue(new_job(0))):
            with pytest.raises(StoreUnavailable) as caught:
                call()
            assert caught.value.retryable
            assert caught.value.reason_code == "store_unavailable"
            assert caught.value.message.startswith("The database could not serve the call: ")
        with pytest.raises(StoreUnavailable):
            store.is_migrated()
    finally:
        db.dispose()


def test_an_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(StoreUnavailable, match=r"Run `farcaster db upgrade`\."):
            Store(db).get("job0000")
        assert not Store(db).is_migrated()
    finally:
        db.dispose()


def test_a_duplicate_key_is_a_write_conflict(database: Database) -> None:
    store = Store(database)
    store.enqueue(new_job(0), now=1.0)
    row = {c.name: None for c in JOBS.c} | {
        "id": "job0000",
        "idempotency_key": "other",
        "repo": "r",
        "agent": "a",
        "mode": "pr",
        "command": {},
        "is_pull_request": False,
        "state": JobState.QUEUED.value,
        "attempts": 0,
        "max_attempts": 1,
        "run_after": 1.0,
        "fencing_token": 0,
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    with pytest.raises(WriteConflict) as caught, database.transaction() as conn:
        conn.execute(JOBS.insert().values(**row))
    assert isinstance(caught.value, StoreError) and caught.value.retryable


def test_insert_ignoring_writes_once(database: Database) -> None:
    with database.transaction() as conn:
        first = st.put_outbox_item(conn, key="k", kind="eyes", job_id=None, payload={}, now=1.0)
        second = st.put_outbox_item(conn, key="k", kind="eyes", job_id=None, payload={}, now=2.0)
    assert (first, second) == (True, False)


def test_the_clock_is_seconds_since_the_epoch(database: Database) -> None:
    import time

    with database.read() as conn:
        clock = database.now(conn)
        assert database.now(conn, 5.0) == 5.0
    assert abs(clock - time.time()) < 60


def test_json_rows_read_every_column_back(database: Database) -> None:
    d = database.dialect
    rows = d.json_rows("items", [("id", "text"), ("n", "bigint"), ("data", "json")])
    items = json.dumps(
        [{"id": "a", "n": 7, "data": {"k": [1, 2]}}, {"id": "b", "n": 8, "data": {}}]
    )
    with database.read() as conn:
        got = conn.execute(text(f"SELECT id, n, data FROM {rows} ORDER BY id"), {"items": items})
        decoded = [
            (i, n, data if isinstance(data, dict) else json.loads(data)) for i, n, data in got
        ]
    assert decoded == [("a", 7, {"k": [1, 2]}), ("b", 8, {})]
