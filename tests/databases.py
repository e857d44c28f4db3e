"""Fresh databases for tests: a migrated SQLite file per test, a PostgreSQL database per session.

PostgreSQL runs on 127.0.0.1:5432 (user postgres, trust auth). The session creates its
own database with a random name and drops it at the end; each test starts from empty
tables (TRUNCATE), never from another test's leftovers.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import text

from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from bot.store.schema import metadata

PG_ADMIN_DSN = os.environ.get(
    "FARCASTER_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Every table of the schema, so a table added later is emptied between tests too.
TABLES = tuple(metadata.tables)


def pg_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def fresh_pg_database(prefix: str = "farcaster_test") -> Iterator[str]:
    """Create a new, migrated PostgreSQL database; drop it afterwards. Yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = pg_url(name)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_pg_database(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
    engine.dispose()


class SqliteTemplate:
    """One migrated SQLite file per session, copied for every test (faster than migrating)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        upgrade(f"sqlite:///{self.path}")

    def copy_to(self, target: Path) -> str:
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"
