"""The engine for a database URL; how it is set up per engine is in bot/store/dialect.py."""

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.store import dialect


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# Connections a process keeps (PostgreSQL; as many again may open for a burst): a serve
# process's triage and each worker loop's outbox drain run four threads each.
POOL_SIZE = 10


def make_engine(url: str, *, pool_size: int = POOL_SIZE) -> Engine:
    url = normalise_url(url)
    return dialect.for_url(url).create_engine(url, pool_size=pool_size)
