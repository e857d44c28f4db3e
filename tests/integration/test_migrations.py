"""The schema comes from Alembic alone, and it matches the SQLModel tables on both engines."""

import zlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.store import Database, Store
from bot.store.engine import make_engine
from bot.store.migrate import downgrade, upgrade
from bot.store.schema import metadata


def _differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_migrations_and_models_agree(db_url: str) -> None:
    assert _differences(db_url) == []


def test_downgrade_to_base_then_upgrade_to_head(db_url: str) -> None:
    downgrade(db_url, "base")
    engine = make_engine(db_url)
    store = Store(Database(engine))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert not store.is_migrated()
    upgrade(db_url, "head")
    assert store.is_migrated()
    assert {t for t in inspect(engine).get_table_names()} >= set(metadata.tables)
    engine.dispose()
    assert _differences(db_url) == []


def test_downgrade_below_0007_compresses_the_bodies_intake_stored_raw(db_url: str) -> None:
    raw, old = b'{"action": "created"}', zlib.compress(b'{"zen": "old"}')
    engine = make_engine(db_url)
    columns = "delivery_id, event, payload_sha256, received_at, state, body, body_compressed"
    insert = text(f"INSERT INTO deliveries ({columns}) VALUES (:id, 'e', 'h', 0, :s, :b, :c)")
    with engine.begin() as conn:
        conn.execute(insert, {"id": "raw", "s": "undecided", "b": raw, "c": False})
        conn.execute(insert, {"id": "old", "s": "decided", "b": old, "c": True})
        conn.execute(insert, {"id": "gone", "s": "decided", "b": None, "c": False})
    engine.dispose()

    downgrade(db_url, "0006")

    engine = make_engine(db_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT delivery_id, body FROM deliveries")).all())
    engine.dispose()
    assert zlib.decompress(rows["raw"]) == raw  # the older code reads compressed bodies only
    assert bytes(rows["old"]) == old  # not compressed twice
    assert rows["gone"] is None
    upgrade(db_url, "head")
    assert _differences(db_url) == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_keeps_delivery_bodies_out_of_line_without_compressing_them_again(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        storage = conn.execute(
            text(
                "SELECT attstorage FROM pg_attribute"
                " WHERE attrelid = 'deliveries'::regclass AND attname = 'body'"
            )
        ).scalar_one()
    engine.dispose()
    assert storage == "e"  # EXTERNAL: no pglz over raw bodies nor over zlib's output
