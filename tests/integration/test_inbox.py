"""The inbox's rules on both engines: accept first, decide under a fenced lease, fail loudly.

Intake through the real app (GitHub mocked, see test_intake_support); triage and its lease
through the store's own calls, with injected times instead of sleeps.
"""

import json
import sqlite3
import threading
import time
import zlib
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.core.settings import get_settings
from bot.store.deliveries import _Checkpointer
from bot.store.delivery_leases import DeliveryLeases
from bot.store.tables import DELIVERIES
from tests.databases import PG_ADMIN_DSN
from tests.integration.test_intake_support import (
    comment_payload,
    drain,
    engine_independent,
    running_intake,
)


def _stored_body(intake, delivery_id: str) -> tuple[bytes | None, bool]:
    with intake.runtime.db.engine.connect() as conn:
        row = conn.execute(
            select(DELIVERIES.c.body, DELIVERIES.c.body_compressed).where(
                DELIVERIES.c.delivery_id == delivery_id
            )
        ).one()
    return (bytes(row.body) if row.body is not None else None), bool(row.body_compressed)


def test_intake_stores_the_body_raw_on_postgres_compressed_on_sqlite_and_asks_github_nothing(
    intake,
):
    payload = comment_payload("/farcaster rename a b")
    response = intake.send(payload, delivery_id="d-1")

    assert response.status_code == 202
    assert response.json() == {"delivery_id": "d-1", "state": "undecided", "duplicate": False}
    assert intake.github.reads == 0 and intake.github.token.call_count == 0
    body, compressed = _stored_body(intake, "d-1")
    assert compressed == (intake.runtime.db.dialect.name == "sqlite")
    assert (zlib.decompress(body) if compressed else body) == json.dumps(payload).encode()
    assert intake.counts()["jobs"] == 0

    assert drain(intake.triage) == 1
    assert intake.runtime.deliveries.find("d-1").outcome == "job_created"


def test_triage_compresses_a_raw_body_in_the_transaction_of_its_decision(intake):
    payload = comment_payload("/farcaster rename a b")
    intake.send(payload, delivery_id="d-1")
    with intake.runtime.db.engine.begin() as conn:  # raw, as intake stores it on PostgreSQL
        conn.execute(
            DELIVERIES.update().values(body=json.dumps(payload).encode(), body_compressed=False)
        )

    drain(intake.triage)

    body, compressed = _stored_body(intake, "d-1")
    assert compressed
    assert zlib.decompress(body) == json.dumps(payload).encode()


def test_deliveries_intake_settles_itself_are_stored_compressed(intake):
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1}
    star = {"action": "starred", "repository": {"full_name": "octo/repo"}}
    assert intake.send(ping, "ping", delivery_id="p-1").status_code == 200
    assert intake.send(star, "star", delivery_id="s-1").json()["outcome"] == "ignored"

    for delivery_id, payload in (("p-1", ping), ("s-1", star)):
        body, compressed = _stored_body(intake, delivery_id)
        assert compressed
        assert json.loads(zlib.decompress(body)) == payload


def test_an_undecided_body_stored_compressed_before_0007_is_decided_from_it(intake):
    payload = comment_payload("/farcaster rename a b")
    intake.send(payload, delivery_id="d-1")
    compressed = zlib.compress(json.dumps(payload).encode())
    with intake.runtime.db.engine.begin() as conn:  # as intake wrote it before revision 0007
        conn.execute(DELIVERIES.update().values(body=compressed, body_compressed=True))

    drain(intake.triage)

    assert intake.runtime.deliveries.find("d-1").outcome == "job_created"
    assert _stored_body(intake, "d-1") == (compressed, True)  # not compressed twice


def test_a_stale_triage_holder_writes_nothing_after_its_lease_was_taken_over(intake):
    intake.send(comment_payload("/farcaster rename a b"), delivery_id="d-1")
    leases = DeliveryLeases(intake.runtime.deliveries, lease_seconds=30)
    (first,) = leases.claim("slow")
    # The slow holder's lease runs out; another triage takes the delivery over and decides.
    (second,) = leases.claim("fast", now=time.time() + 60)
    assert second.fencing_token == first.fencing_token + 1
    assert leases.decide(second, "ignored", reason="taken over") is not None

    assert leases.decide(first, "job_created", reason="too late") is None
    assert leases.put_off(first, "too late", delay=1, refund_attempt=False) is None
    assert leases.fail(first, "too late") is None
    record = intake.runtime.deliveries.find("d-1")
    assert (record.state, record.outcome, record.reason) == ("decided", "ignored", "taken over")
    assert record.attempts == 2


def test_a_payload_only_triage_can_find_wrong_is_settled_failed_with_its_reason(intake):
    payload = comment_payload("/farcaster rename a b")
    intake.send(payload, delivery_id="d-1")
    with intake.runtime.db.engine.begin() as conn:  # as if intake's checks had let it through
        conn.execute(DELIVERIES.update().values(body=b"[1, 2]", body_compressed=False))

    drain(intake.triage)

    record = intake.runtime.deliveries.find("d-1")
    assert record.state == "failed"
    assert record.reason == "bad_payload: the stored body is not a JSON object"
    assert intake.counts()["jobs"] == 0
    body, compressed = _stored_body(intake, "d-1")  # settled: compressed, like a decision
    assert compressed and zlib.decompress(body) == b"[1, 2]"


@engine_independent
def test_bodies_of_settled_deliveries_are_emptied_after_the_retention(intake):
    intake.post(comment_payload("/farcaster rename a b"), delivery_id="settled")
    intake.send(comment_payload("/farcaster rename c d"), delivery_id="waiting")
    deliveries = intake.runtime.deliveries

    assert deliveries.forget_bodies(retention_seconds=3600) == 0
    later = time.time() + 2 * 3600
    assert deliveries.forget_bodies(retention_seconds=3600, now=later) == 1
    with intake.runtime.db.engine.connect() as conn:
        rows = dict(conn.execute(select(DELIVERIES.c.delivery_id, DELIVERIES.c.body)).all())
    assert rows["settled"] is None
    assert rows["waiting"] is not None  # undecided: kept whatever its age


@engine_independent
def test_a_locked_sqlite_file_answers_503_with_retry_after_and_the_redelivery_is_accepted(
    settings, intake
):
    intake.runtime.settings.intake_busy_seconds = 0.2
    intake.triage.context.settings.intake_busy_seconds = 0.2
    path = settings.database_url.removeprefix("sqlite:///")
    payload = comment_payload("/farcaster rename a b")
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        refused = intake.send(payload, delivery_id="d-1")
    finally:
        holder.rollback()
        holder.close()

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["error"] == "store_unavailable"
    assert "locked" in refused.json()["reason"]
    assert intake.counts()["deliveries"] == 0
    samples = intake.client.get("/metrics").text
    assert (
        'farcaster_webhook_deliveries_total{event="issue_comment",outcome="store_unavailable"} 1.0'
        in samples
    )

    assert intake.post(payload, delivery_id="d-1").json()["outcome"] == "job_created"


@engine_independent
def test_a_delivery_arriving_while_this_process_writes_is_stored_once_the_write_ends(intake):
    # Triage holds the process's write turn: intake hands the delivery to its writer thread,
    # which waits for the turn instead of answering 503 at once.
    holding, release = threading.Event(), threading.Event()

    def triage_writes() -> None:
        with intake.runtime.deliveries.writing():
            holding.set()
            release.wait(5)

    writer = threading.Thread(target=triage_writes)
    writer.start()
    assert holding.wait(5)
    threading.Timer(0.2, release.set).start()
    try:
        response = intake.send(comment_payload("/farcaster rename a b"), delivery_id="d-1")
    finally:
        release.set()
        writer.join()

    assert response.status_code == 202
    assert response.json() == {"delivery_id": "d-1", "state": "undecided", "duplicate": False}
    assert intake.counts()["deliveries"] == 1


def test_deliveries_list_and_show_tell_state_outcome_attempts_and_job(intake, monkeypatch):
    monkeypatch.setenv("FARCASTER_DATABASE_URL", intake.runtime.settings.database_url)
    get_settings.cache_clear()
    created = intake.post(comment_payload("/farcaster rename a b"), delivery_id="d-1").json()
    intake.send(comment_payload("/farcaster rename c d"), delivery_id="d-2")

    listed = CliRunner().invoke(cli, ["deliveries", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["delivery_id"]: r for r in json.loads(listed.output)}
    assert rows["d-1"]["display_state"] == "decided"
    assert (rows["d-1"]["outcome"], rows["d-1"]["job_id"]) == ("job_created", created["job_id"])
    assert (rows["d-2"]["display_state"], rows["d-2"]["attempts"]) == ("undecided", 0)

    shown = CliRunner().invoke(cli, ["deliveries", "show", "d-1"])
    assert shown.exit_code == 0, shown.output
    assert f"job_id: {created['job_id']}" in shown.output
    assert "body" not in shown.output
    missing = CliRunner().invoke(cli, ["deliveries", "show", "nope"])
    assert missing.exit_code == 1
    get_settings.cache_clear()


@engine_independent
def test_a_read_only_sqlite_file_is_not_ready_and_a_delivery_gets_503_not_500(settings):
    # Opened read-only, as a file the process may not write is (root ignores file modes).
    path = settings.database_url.removeprefix("sqlite:///")
    read_only = settings.model_copy(
        update={"database_url": f"sqlite:///file:{path}?mode=ro&uri=true"}
    )
    with running_intake(read_only) as intake:
        ready = intake.client.get("/readyz")
        refused = intake.send(comment_payload("/farcaster rename a b"))

    assert ready.status_code == 503
    assert "refuses writes" in ready.json()["reason"]
    assert "readonly" in ready.json()["reason"]
    assert refused.status_code == 503
    assert refused.json()["error"] == "store_unavailable"
    assert "readonly" in refused.json()["reason"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_connections_postgresql_terminated_cost_neither_readiness_nor_a_delivery(intake):
    assert intake.client.get("/readyz").status_code == 200
    intake.runtime.db.dispose()
    assert intake.send(comment_payload("/farcaster rename x y")).status_code == 202

    database = intake.runtime.db.engine.url.database

    def terminate_ours() -> None:  # as a PostgreSQL restart would: every pooled connection
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1

    terminate_ours()
    assert intake.send(comment_payload("/farcaster rename a b")).status_code == 202
    terminate_ours()
    assert intake.client.get("/readyz").status_code == 200


@engine_independent
def test_metrics_show_the_undecided_backlog_and_its_oldest_age(intake):
    intake.send(comment_payload("/farcaster rename a b"), delivery_id="waiting")
    samples = intake.client.get("/metrics").text
    assert "farcaster_deliveries_undecided 1.0" in samples
    age_line = next(
        line
        for line in samples.splitlines()
        if line.startswith("farcaster_oldest_undecided_delivery_age_seconds ")
    )
    assert 0.0 <= float(age_line.split()[1]) < 60.0

    drain(intake.triage)
    samples = intake.client.get("/metrics").text
    assert "farcaster_deliveries_undecided 0.0" in samples
    assert "farcaster_oldest_undecided_delivery_age_seconds 0.0" in samples
    assert 'farcaster_delivery_decisions{outcome="job_created"} 1.0' in samples


@engine_independent
def test_the_checkpoint_thread_copies_the_wal_into_the_file_and_ends_when_idle(
    settings, intake, monkeypatch
):
    monkeypatch.setattr(_Checkpointer, "IDLE_SECONDS", 0.2)
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as every store connection
    writer.execute("CREATE TABLE filler (data BLOB)")
    writer.executemany("INSERT INTO filler VALUES (?)", [(b"x" * 4000,)] * 200)
    # The rows are in the WAL (the writer stays open: closing the last connection would
    # checkpoint).
    before = path.stat().st_size
    checkpoints = _Checkpointer(intake.runtime.db)

    checkpoints.request()

    deadline = time.monotonic() + 10
    while _checkpoint_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _checkpoint_threads()  # idle: gone
    assert path.stat().st_size > before + 200 * 4000  # the pages left the WAL for the file
    writer.close()


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "farcaster-intake-checkpoint"]
