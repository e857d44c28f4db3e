"""The `farcaster` command. Each subcommand group lives in bot/cli/commands/."""

import sys

import typer
from pydantic import ValidationError

from bot.cli.commands import db, deliveries, jobs
from bot.cli.commands.demo import demo
from bot.cli.commands.emulator import emulator
from bot.cli.commands.register import register
from bot.cli.commands.serve import serve
from bot.cli.commands.worker import worker
from bot.core.errors import ConfigurationError

app = typer.Typer(
    name="farcaster",
    help="Farcaster: a GitHub App that turns `/farcaster rename old new` into one pull request.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(worker)
app.add_typer(db.app, name="db")
app.add_typer(jobs.app, name="jobs")
app.add_typer(deliveries.app, name="deliveries")
app.command(help="Run a local GitHub emulator (real git objects, App auth, signed webhooks).")(
    emulator
)
app.command()(register)
app.command()(demo)


def main() -> None:
    """Entry point: configuration problems end with one sentence, not a traceback."""
    try:
        app()
    except ConfigurationError as exc:
        typer.secho(f"farcaster: {exc.message}", err=True, fg="red")
        sys.exit(2)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "FARCASTER_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        typer.secho(f"farcaster: {field} is invalid: {first['msg']}.", err=True, fg="red")
        sys.exit(2)


if __name__ == "__main__":
    main()
