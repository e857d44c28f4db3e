"""The egress proxy: the only way out of a sandbox whose agent names a network allowlist.

The sandbox has no network of its own. When an agent's ``network`` lists ``host:port``
pairs, the worker starts one :class:`EgressProxy` for the run; its unix socket is bound
into the sandbox, where :mod:`bot.sandbox.forwarder` relays ``127.0.0.1:PORT`` to it.

The rules:

- It speaks HTTP/1.x: ``CONNECT host:port`` (a tunnel, what HTTPS, pip and git use) and
  plain-HTTP requests in absolute form (``GET http://host:port/path``), which are sent on
  in origin form with ``Connection: close``, so one connection carries one request.
  Anything else is refused.
- A target passes only when its ``(host, port)`` is in the allowlist exactly: the host
  compared without letter case or a trailing dot, the port equal. No wildcards, no
  default ports.
- The proxy resolves a name once and connects to the address it checked, so a DNS answer
  cannot change between the check and the connection. A name must resolve to a global
  address (``pypi.org`` resolving to 10.0.0.5 or 169.254.169.254 is refused); an address
  literal in the allowlist (``127.0.0.1:8080``) is taken as the operator wrote it, which
  is how an internal mirror or a local test server is allowed.
- Every refusal answers ``403`` with one sentence, and calls ``on_blocked`` once with a
  :class:`Blocked` (from the proxy's thread; an exception there is logged, not raised).
  A target that cannot be reached is a ``502``, not a refusal.
- Bounded: a request head is at most :data:`MAX_HEAD_BYTES` read within
  :data:`HEAD_TIMEOUT` seconds, connecting waits :data:`CONNECT_TIMEOUT` seconds, a
  tunnel direction idle for :data:`IDLE_TIMEOUT` seconds ends, and at most
  :data:`MAX_CONNECTIONS` connections are open at once (more get ``503``).
- The socket lives in a private folder named after the worker's pid; :meth:`EgressProxy.close`
  removes it, and a worker that starts removes those of workers that died
  (:func:`sweep_abandoned_sockets`).
- Nothing of a request but its target is ever recorded (``Proxy-Authorization`` and
  every other header stay unseen by logs and events).
"""

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.sandbox.leftovers import process_alive

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0
MAX_CONNECTIONS = 64
# sockaddr_un holds 108 bytes with the NUL; leave room for a kernel that wants fewer.
_MAX_SOCKET_PATH = 100
_FOLDER_PREFIX = "fc-egress-"

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*"
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$"
)
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
    }
)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BadTarget(ValueError):
    """A request or an allowlist entry that does not name one host and port."""


@dataclass(frozen=True)
class Blocked:
    """One refused connection: what it asked for, and why it was refused."""

    target: str  # "host:port", or the start of a request that named none
    reason: str  # not_allowed | private_address | bad_request

    def sentence(self) -> str:
        return f"blocked: {self.target} ({_REASONS[self.reason]})"


_REASONS = {
    "not_allowed": "not in the agent's network allowlist",
    "private_address": "the name resolves to a private address",
    "bad_request": "not a CONNECT or absolute-URL HTTP request",
}


# -- targets and the allowlist (pure) ----------------------------------------------------


def normalize_host(host: str) -> str:
    """The host as the allowlist compares it: lower case, no brackets or trailing dot."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.lower().rstrip(".")
    address = _address(host)
    if address is not None:
        return str(address)
    if not _HOSTNAME.match(host):
        raise BadTarget(f"{host[:80]!r} is not a host name or an IP address")
    return host


def split_target(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) as a normalized host and a port number."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadTarget(f"{text[:80]!r} is not host:port with a port from 1 to 65535")
    if ":" in host and not host.startswith("["):
        raise BadTarget(f"{text[:80]!r}: write an IPv6 address in brackets, [::1]:443")
    return normalize_host(host), int(port)


def format_target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Allowlist:
    """The ``host:port`` pairs an agent may reach; see the module rules for matching."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.pairs = frozenset(split_target(entry) for entry in entries)

    def allows(self, host: str, port: int) -> bool:
        return (host, port) in self.pairs

    def __repr__(self) -> str:
        return f"Allowlist({sorted(format_target(h, p) for h, p in self.pairs)})"


@dataclass(frozen=True)
class Request:
    """What a request head asks for. ``forward`` is the head to send on (plain HTTP only)."""

    host: str
    port: int
    forward: bytes | None = None

    @property
    def target(self) -> str:
        return format_target(self.host, self.port)


def parse_request(head: bytes) -> Request:
    """The target of a request head (through the blank line), or :class:`BadTarget`."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadTarget(f"{_printable(line)!r} is not an HTTP/1 request line")
    method, target, version = parts
    if method == "CONNECT":
        host, port = split_target(target)
        return Request(host, port)
    url = urlsplit(target)
    if url.scheme.lower() != "http" or not url.hostname:
        raise BadTarget(f"{method} {_printable(target.encode())!r} is not a CONNECT or http:// URL")
    try:
        port = url.port or 80
    except ValueError:
        raise BadTarget(f"{_printable(target.encode())!r} has a bad port") from None
    host = normalize_host(url.hostname)
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    return Request(host, port, _origin_form(method, path, version, rest, url.netloc))


def _origin_form(method: str, path: str, version: str, rest: bytes, netloc: str) -> bytes:
    """The head for the origin server: its own path, no proxy or hop-by-hop headers."""
    lines = [f"{method} {path} {version}".encode("latin-1")]
    has_host = False
    for header in rest.split(b"\r\n"):
        if not header:
            continue
        name = header.split(b":", 1)[0].strip().lower()
        if name in _HOP_BY_HOP:
            continue
        has_host = has_host or name == b"host"
        lines.append(header)
    if not has_host:
        lines.append(b"Host: " + netloc.rpartition("@")[2].encode("latin-1"))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _printable(data: bytes) -> str:
    text = data[:80].decode("latin-1")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


# -- the server ------------------------------------------------------------------------


def _reply(status: str, text: str = "") -> bytes:
    body = (text + "\n").encode() if text else b""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


class EgressProxy:
    """A proxy on a unix socket, served by its own thread; a context manager.

    ``socket_path`` is where the sandbox binds from; it lives in a private folder that
    :meth:`close` removes.
    """

    def __init__(
        self,
        allowlist: Allowlist,
        on_blocked: Callable[[Blocked], None],
        *,
        resolve: Callable[[str, int], list[IpAddress]] | None = None,
    ) -> None:
        self.allowlist = allowlist
        self.on_blocked = on_blocked
        self._resolve = resolve
        # Named after this process, so that sweep_abandoned_sockets can tell it is gone.
        prefix = f"{_FOLDER_PREFIX}{os.getpid()}-"
        self._folder = Path(tempfile.mkdtemp(prefix=prefix, dir=_short_tmp()))
        self.socket_path = self._folder / "proxy.sock"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="egress-proxy"
        )
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._open = 0

    def start(self) -> "EgressProxy":
        self._thread.start()
        started: Future[None] = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        try:
            started.result(timeout=10)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop listening, end every tunnel, stop the thread and remove the socket."""
        if self._thread.is_alive():
            stopped = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                stopped.result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "EgressProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_unix_server(
            self._track, str(self.socket_path), limit=MAX_HEAD_BYTES
        )
        # Bound read-only into a sandbox that runs as another user: connect() needs write
        # permission on the socket itself. The folder stays 0700 on the host side.
        os.chmod(self.socket_path, 0o666)  # noqa: S103

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open += 1
        try:
            if self._open > MAX_CONNECTIONS:
                writer.write(_reply("503 Service Unavailable", "Too many open connections."))
                await writer.drain()
            else:
                await self._handle(reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # close() ends every connection; ending quietly keeps asyncio's stream callback
            # from logging the cancellation as an error.
            pass
        finally:
            self._open -= 1
            self._tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except (asyncio.LimitOverrunError, ValueError):
            await self._refuse(writer, Blocked("(a request head over 16 KiB)", "bad_request"))
            return
        try:
            request = parse_request(head)
        except BadTarget as exc:
            first = _printable(head.partition(b"\r\n")[0]) or "(an empty request)"
            await self._refuse(writer, Blocked(first, "bad_request"), str(exc))
            return
        if not self.allowlist.allows(request.host, request.port):
            await self._refuse(writer, Blocked(request.target, "not_allowed"))
            return
        try:
            address = await self._address_for(request)
            if address is None:
                await self._refuse(writer, Blocked(request.target, "private_address"))
                return
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(str(address), request.port), CONNECT_TIMEOUT
            )
        except (TimeoutError, OSError) as exc:
            why = str(exc) or type(exc).__name__
            writer.write(_reply("502 Bad Gateway", f"{request.target} cannot be reached: {why}."))
            await writer.drain()
            return
        try:
            if request.forward is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(request.forward)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    async def _address_for(self, request: Request) -> IpAddress | None:
        """The checked address to connect to; None when a name resolves to no global one."""
        literal = _address(request.host)
        if literal is not None:
            return literal
        if self._resolve is not None:
            found = self._resolve(request.host, request.port)
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(
                request.host, request.port, type=socket.SOCK_STREAM
            )
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        return next((a for a in found if a.is_global), None)

    async def _refuse(self, writer: asyncio.StreamWriter, blocked: Blocked, why: str = "") -> None:
        try:
            self.on_blocked(blocked)
        except Exception:  # the caller's callback, whatever it does: the agent still gets its 403
            log.exception("recording a blocked connection failed")
        text = f"Farcaster {blocked.sentence()}." + (f" {why}" if why else "")
        writer.write(_reply("403 Forbidden", text))
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until end of file or idleness; pass the half-close on."""
    try:
        while data := await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (TimeoutError, OSError):
        pass


def _short_tmp() -> str:
    """A temporary folder whose socket paths fit in a sockaddr_un."""
    tmp = tempfile.gettempdir()
    fits = len(tmp) + len("/fc-egress-4194304-XXXXXXXX/proxy.sock") <= _MAX_SOCKET_PATH
    return tmp if fits else "/tmp"  # noqa: S108 (mkdtemp makes a private folder there)


def sweep_abandoned_sockets() -> list[Path]:
    """Remove the socket folders of proxies whose process died without closing them
    (a worker killed with SIGKILL); called when a worker starts."""
    removed = []
    for entry in Path(_short_tmp()).glob(f"{_FOLDER_PREFIX}*-*"):
        pid = entry.name[len(_FOLDER_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and entry.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


class BlockedLog:
    """Refusals seen during a run, one entry per target and reason, counted; thread-safe.

    At most :data:`MAX_DISTINCT` distinct entries are kept (an agent looping over hosts
    must not grow the job's events without bound); the rest are only counted.
    """

    MAX_DISTINCT = 20

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Blocked, int] = {}
        self.dropped = 0

    def __call__(self, blocked: Blocked) -> None:
        with self._lock:
            if blocked in self._counts:
                self._counts[blocked] += 1
            elif len(self._counts) < self.MAX_DISTINCT:
                self._counts[blocked] = 1
            else:
                self.dropped += 1

    def counted(self) -> list[tuple[Blocked, int]]:
        """The refusals in the order first seen, each with how often it happened."""
        with self._lock:
            return list(self._counts.items())

    def entries(self) -> list[dict[str, object]]:
        """As :meth:`counted`, as event data: ``{"target", "reason", "count"}``."""
        return [{"target": b.target, "reason": b.reason, "count": n} for b, n in self.counted()]
