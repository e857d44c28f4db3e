"""Shared fixtures: a real store on each engine, settings, a test RSA key."""

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.settings import Settings
from bot.store import Database, Store
from bot.store.outbox import Outbox
from tests.databases import SqliteTemplate, empty_pg_database, fresh_pg_database

ENGINES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=ENGINES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    """A migrated, empty database on each engine."""
    if request.param == "sqlite":
        return sqlite_template.copy_to(tmp_path / "farcaster.db")
    url: str = request.getfixturevalue("pg_session_url")
    empty_pg_database(url)
    return url


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database.from_url(db_url)
    yield db
    db.dispose()


@pytest.fixture
def store(database: Database) -> Store:
    # Jitter fixed at 0 so backoff is deterministic: half the exponential ceiling.
    return Store(database, lease_seconds=30.0, max_attempts=3, jitter=lambda: 0.0)


@pytest.fixture
def outbox(database: Database) -> Outbox:
    return Outbox(database, lease_seconds=30.0, jitter=lambda: 0.0)


@pytest.fixture(scope="session")
def rsa_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@functools.cache
def sandbox_works() -> bool:
    """Whether bwrap can make a sandbox on this machine."""
    from bot.sandbox.startup import sandbox_available

    return sandbox_available()


def require_sandbox() -> None:
    """For tests of the sandbox itself: skipped where bwrap cannot work, but FAILED when
    ``FARCASTER_REQUIRE_SANDBOX=1`` (CI sets it, so a missing bwrap cannot pass quietly)."""
    if sandbox_works():
        return
    reason = "bubblewrap (bwrap) cannot make a sandbox on this machine"
    if os.environ.get("FARCASTER_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"{reason}, and FARCASTER_REQUIRE_SANDBOX=1")
    pytest.skip(reason)


@pytest.fixture
def sandbox_required() -> None:
    require_sandbox()


@pytest.fixture
def settings(db_url: str, rsa_private_key_pem: str) -> Settings:
    return Settings(
        # Agents run sandboxed wherever bwrap works (as in production).
        sandbox="on" if sandbox_works() else "off",
        database_url=db_url,
        github_api_url="http://github.test/api/v3",
        github_app_id=1,
        github_private_key=rsa_private_key_pem,  # type: ignore[arg-type]
        webhook_secret="It's a Secret to Everybody",  # type: ignore[arg-type]
        lease_seconds=30.0,
        max_attempts=3,
        _env_file=None,  # type: ignore[call-arg]
    )
