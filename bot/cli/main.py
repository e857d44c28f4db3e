"""The `farcaster` command. Each subcommand group lives in bot/cli/commands/.

A process started for one subcommand imports only that subcommand's module: `farcaster
emulator` (started by every end-to-end test and by the demo) then skips the store, the
GitHub client and the web stack, which cost the other commands about 0.7 s of CPU at start.
``app`` (the whole command, for `--help`, an unknown name and tests) is built on first use.
"""

import functools
import importlib
import sys
from typing import Any

import typer
from pydantic import ValidationError

from bot.core.errors import ConfigurationError

HELP = "Farcaster: a GitHub App that turns `/farcaster rename old new` into one pull request."
# name -> (module, attribute, is a group of subcommands, help), in `--help` order.
COMMANDS: dict[str, tuple[str, str, bool, str | None]] = {
    "serve": ("bot.cli.commands.serve", "serve", False, None),
    "worker": ("bot.cli.commands.worker", "worker", False, None),
    "db": ("bot.cli.commands.db", "app", True, None),
    "jobs": ("bot.cli.commands.jobs", "app", True, None),
    "deliveries": ("bot.cli.commands.deliveries", "app", True, None),
    "emulator": (
        "bot.cli.commands.emulator",
        "emulator",
        False,
        "Run a local GitHub emulator (real git objects, App auth, signed webhooks).",
    ),
    "register": ("bot.cli.commands.register", "register", False, None),
    "demo": ("bot.cli.commands.demo", "demo", False, None),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The command with every subcommand, or with ``only`` that one (same options)."""
    built = typer.Typer(
        name="farcaster", help=HELP, no_args_is_help=True, pretty_exceptions_enable=False
    )
    # A callback keeps Typer in group mode with one subcommand: `farcaster emulator --port 0`
    # still names the subcommand instead of passing "emulator" as an argument.
    built.callback()(_no_options)
    for name, (module, attribute, group, help_text) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attribute)
        if group:
            built.add_typer(target, name=name)
        else:
            built.command(name=name, help=help_text)(target)
    return built


def _no_options() -> None:
    pass


@functools.cache
def _whole_app() -> typer.Typer:
    return build_app()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _whole_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: configuration problems end with one sentence, not a traceback."""
    named = sys.argv[1] if len(sys.argv) > 1 else None
    command = build_app(named) if named in COMMANDS else _whole_app()
    try:
        command()
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
