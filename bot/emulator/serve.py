"""Serving the emulator with uvicorn, in this process or in a background thread.

The socket is bound and listening *before* the URL is announced, so a client that connects
as soon as it reads the URL is queued by the kernel until uvicorn accepts: no polling, no
race. Port 0 asks the kernel for a free port.
"""

import socket
import threading
from pathlib import Path
from types import TracebackType

import uvicorn

from bot.emulator.app import create_app
from bot.emulator.state import EmulatorConfig


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP, and without it keep-alive requests wait ~40 ms on Nagle.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(config: EmulatorConfig, *, log_level: str = "warning") -> uvicorn.Server:
    app = create_app(config)
    return uvicorn.Server(
        # No uvicorn Date: the emulator sends its own, on its own clock (journal.py).
        uvicorn.Config(
            app, log_level=log_level, access_log=False, lifespan="off", date_header=False
        )
    )


class EmulatorThread:
    """The emulator in a daemon thread, for tests: ``with EmulatorThread(dir) as base_url:``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        token_lifetime_seconds: int = 3600,
        webhook_timeout_seconds: float = 10.0,
    ) -> None:
        config = EmulatorConfig(
            data_dir=data_dir,
            token_lifetime_seconds=token_lifetime_seconds,
            webhook_timeout_seconds=webhook_timeout_seconds,
        )
        self.server = make_server(config)
        self._sock = bind(host, 0)
        self.base_url = url_of(self._sock)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> str:
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
