"""`farcaster db upgrade|downgrade|current`."""

import typer

from bot.core.settings import get_settings

app = typer.Typer(
    help="Create or upgrade the database schema (Alembic migrations).", no_args_is_help=True
)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply every migration up to REVISION (default: the newest)."""
    from bot.store import migrate

    url = get_settings().database_url
    migrate.upgrade(url, revision)
    typer.echo(f"database at {revision}: {_safe(url)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Undo migrations down to REVISION."""
    from bot.store import migrate

    url = get_settings().database_url
    migrate.downgrade(url, revision)
    typer.echo(f"database at {revision}: {_safe(url)}")


@app.command()
def current() -> None:
    """Say whether the database is at the newest migration (exit 1 if not)."""
    from bot.store import Database, Store

    database = Database.from_url(get_settings().database_url)
    try:
        ok = Store(database).is_migrated()
    finally:
        database.dispose()
    typer.echo("up to date" if ok else "needs `farcaster db upgrade`")
    raise typer.Exit(0 if ok else 1)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
