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


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalise_url(url)
    return dialect.for_url(url).create_engine(url, pool_size=pool_size)
