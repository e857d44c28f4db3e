"""`farcaster emulator`: run the local GitHub emulator (see bot/emulator/__init__.py).

Prints exactly one line on stdout, ``emulator listening on http://HOST:PORT``, once the
socket is listening, and flushes it, so a parent process can read the URL (the API base
for the bot is that URL plus ``/api/v3``). Logs go to stderr.
"""

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the bare git repositories go; a temporary directory (removed at "
            "exit) if unset.",
        ),
    ] = None,
    token_lifetime: Annotated[
        int,
        typer.Option("--token-lifetime", min=1, help="Seconds an installation token stays valid."),
    ] = 3600,
    webhook_timeout: Annotated[
        float,
        typer.Option(
            "--webhook-timeout", help="Seconds to wait for the App's server per delivery."
        ),
    ] = 10.0,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level (logs go to stderr).")] = (
        "warning"
    ),
) -> None:
    """Run a local GitHub emulator: the REST subset Farcaster uses, plus an admin API."""
    # Imported here: the emulator is large, and other subcommands need none of it.
    from bot.emulator.serve import bind, make_server, url_of
    from bot.emulator.state import EmulatorConfig

    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="farcaster-emulator-")) if data_dir is None else data_dir
    config = EmulatorConfig(
        data_dir=root,
        token_lifetime_seconds=token_lifetime,
        webhook_timeout_seconds=webhook_timeout,
    )
    server = make_server(config, log_level=log_level)
    sock = bind(host, port)
    sys.stdout.write(f"emulator listening on {url_of(sock)}\n")
    sys.stdout.flush()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    typer.run(emulator)
