"""The schema comes from Alembic alone, and it matches the SQLModel tables on both engines."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

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
