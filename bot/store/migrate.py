"""Running Alembic from code: ``farcaster db upgrade`` and the tests use this."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

import migrations


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def is_current(conn: Connection) -> bool:
    """True when the database behind ``conn`` is at the newest migration."""
    heads = set(ScriptDirectory.from_config(alembic_config(str(conn.engine.url))).get_heads())
    return set(MigrationContext.configure(conn).get_current_heads()) == heads
