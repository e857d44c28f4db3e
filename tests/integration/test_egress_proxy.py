"""The egress proxy and its forwarder on real sockets: allowed targets answer, others are
refused and reported, and nothing else is reached."""

import http.server
import ipaddress
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.sandbox.forwarder
from bot.sandbox.egress import INSIDE_SOCKET, check_network, egress
from bot.sandbox.proxy import (
    Allowlist,
    Blocked,
    BlockedLog,
    EgressProxy,
    sweep_abandoned_sockets,
)

FORWARDER = Path(bot.sandbox.forwarder.__file__)


class _Hello(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]]  # (path, Proxy-Authorization) per request

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        body = b"hello from the allowed server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    """A local HTTP server: its port and the requests it saw."""
    seen: list[tuple[str, str | None]] = []
    handler = type("Handler", (_Hello,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def bystander() -> Iterator[socket.socket]:
    """A listening port nobody is allowed to reach; non-blocking, to check nothing came."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    yield sock
    sock.close()


def _ask(proxy: EgressProxy, head: bytes) -> tuple[socket.socket, bytes]:
    """Send a request head through the proxy's socket; the socket and the reply's head."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(10)
    conn.connect(str(proxy.socket_path))
    conn.sendall(head)
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = conn.recv(4096)
        if not chunk:
            break
        reply += chunk
    return conn, reply


def _read_all(conn: socket.socket, start: bytes = b"") -> bytes:
    data = start
    while chunk := conn.recv(4096):
        data += chunk
    conn.close()
    return data


def test_connect_to_an_allowed_server_tunnels_to_it(origin: tuple[int, list]) -> None:
    port, seen = origin
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), blocked.append) as proxy:
        conn, reply = _ask(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 200 ")
        conn.sendall(b"GET /through-the-tunnel HTTP/1.0\r\nHost: x\r\n\r\n")
        answer = _read_all(conn)
    assert b"hello from the allowed server" in answer
    assert seen == [("/through-the-tunnel", None)]
    assert blocked == []


def test_plain_http_to_an_allowed_server_arrives_without_proxy_credentials(
    origin: tuple[int, list],
) -> None:
    port, seen = origin
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), lambda b: None) as proxy:
        head = (
            f"GET http://127.0.0.1:{port}/simple/?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Proxy-Authorization: Basic c2VjcmV0\r\n\r\n"
        ).encode()
        conn, reply = _ask(proxy, head)
        answer = _read_all(conn, reply)
    assert answer.startswith(b"HTTP/1.0 200 ")
    assert b"hello from the allowed server" in answer
    assert seen == [("/simple/?q=1", None)]


def test_a_host_not_allowed_is_refused_reported_and_never_contacted(
    origin: tuple[int, list], bystander: socket.socket
) -> None:
    port, _ = origin
    other = bystander.getsockname()[1]
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), blocked.append) as proxy:
        conn, reply = _ask(proxy, f"CONNECT 127.0.0.1:{other} HTTP/1.1\r\n\r\n".encode())
        body = _read_all(conn, reply)
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert f"blocked: 127.0.0.1:{other}".encode() in body
    assert blocked == [Blocked(f"127.0.0.1:{other}", "not_allowed")]
    with pytest.raises(BlockingIOError):
        bystander.accept()


@pytest.mark.parametrize(
    "target",
    ["127.0.0.1:{other}", "localhost:{port}", "127.0.0.2:{port}", "[::1]:{port}"],
)
def test_allowlist_matches_host_and_port_exactly(
    origin: tuple[int, list], bystander: socket.socket, target: str
) -> None:
    port, seen = origin
    asked = target.format(port=port, other=bystander.getsockname()[1])
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), blocked.append) as proxy:
        conn, reply = _ask(proxy, f"CONNECT {asked} HTTP/1.1\r\n\r\n".encode())
        conn.close()
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert blocked == [Blocked(asked, "not_allowed")]
    assert seen == []


def test_an_allowed_name_that_resolves_to_a_private_address_is_refused(
    origin: tuple[int, list],
) -> None:
    port, seen = origin
    blocked: list[Blocked] = []

    def resolve(host: str, _port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        assert host == "mirror.example"
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("169.254.169.254")]

    allow = Allowlist([f"mirror.example:{port}"])
    with EgressProxy(allow, blocked.append, resolve=resolve) as proxy:
        conn, reply = _ask(proxy, f"CONNECT mirror.example:{port} HTTP/1.1\r\n\r\n".encode())
        conn.close()
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert blocked == [Blocked(f"mirror.example:{port}", "private_address")]
    assert seen == []


def test_a_request_that_is_not_a_proxy_request_is_refused_and_reported() -> None:
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([]), blocked.append) as proxy:
        conn, reply = _ask(proxy, b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.close()
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert blocked == [Blocked("GET /etc/passwd HTTP/1.1", "bad_request")]


def test_an_allowed_target_that_is_down_is_a_502_not_a_refusal(bystander: socket.socket) -> None:
    free = bystander.getsockname()[1]
    bystander.close()  # nothing listens there any more
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([f"127.0.0.1:{free}"]), blocked.append) as proxy:
        conn, reply = _ask(proxy, f"CONNECT 127.0.0.1:{free} HTTP/1.1\r\n\r\n".encode())
        conn.close()
    assert reply.startswith(b"HTTP/1.1 502 ")
    assert blocked == []


def test_closing_the_proxy_ends_open_tunnels_and_removes_the_socket(
    origin: tuple[int, list],
) -> None:
    port, _ = origin
    proxy = EgressProxy(Allowlist([f"127.0.0.1:{port}"]), lambda b: None).start()
    conn, reply = _ask(proxy, f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 200 ")
    proxy.close()
    assert conn.recv(1) == b""  # the tunnel was closed, not left dangling
    conn.close()
    assert not proxy.socket_path.exists()
    assert not proxy.socket_path.parent.exists()


def test_a_failing_callback_does_not_keep_the_refusal_from_the_client() -> None:
    def broken(_blocked: Blocked) -> None:
        raise RuntimeError("the store is down")

    with EgressProxy(Allowlist([]), broken) as proxy:
        conn, reply = _ask(proxy, b"CONNECT evil.example:443 HTTP/1.1\r\n\r\n")
        conn.close()
    assert reply.startswith(b"HTTP/1.1 403 ")


# -- the forwarder ---------------------------------------------------------------------

_FETCH = """
import os, sys, urllib.request, urllib.error
print(os.environ["HTTPS_PROXY"] == os.environ["http_proxy"], "NO_PROXY" in os.environ)
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())
try:
    urllib.request.urlopen(sys.argv[2], timeout=10)
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read().decode().strip())
"""


def test_forwarder_relays_a_commands_http_through_the_proxy(
    origin: tuple[int, list], bystander: socket.socket
) -> None:
    port, seen = origin
    other = bystander.getsockname()[1]
    blocked: list[Blocked] = []
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), blocked.append) as proxy:
        done = subprocess.run(
            [
                sys.executable,
                str(FORWARDER),
                "--port",
                "0",
                "--socket",
                str(proxy.socket_path),
                "--",
                sys.executable,
                "-c",
                _FETCH,
                f"http://127.0.0.1:{port}/via-forwarder",
                f"http://127.0.0.1:{other}/",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "NO_PROXY": "*"},
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "True False"
    assert lines[1] == "hello from the allowed server"
    assert lines[2].startswith("403 Farcaster blocked: 127.0.0.1:")
    assert seen == [("/via-forwarder", None)]
    assert blocked == [Blocked(f"127.0.0.1:{other}", "not_allowed")]


@pytest.mark.parametrize(
    ("code", "expected"),
    [("raise SystemExit(3)", 3), ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9)],
)
def test_forwarder_exits_as_its_command_did(tmp_path: Path, code: str, expected: int) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(FORWARDER),
            "--port",
            "0",
            "--socket",
            str(tmp_path / "none.sock"),
            "--",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == expected


def test_forwarder_without_a_proxy_answers_502(tmp_path: Path) -> None:
    fetch = (
        "import urllib.request, urllib.error\n"
        "try:\n    urllib.request.urlopen('http://example.invalid/', timeout=10)\n"
        "except urllib.error.HTTPError as exc:\n    print(exc.code)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            str(FORWARDER),
            "--port",
            "0",
            "--socket",
            str(tmp_path / "none.sock"),
            "--",
            sys.executable,
            "-c",
            fetch,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "502"


def test_forwarder_says_when_its_command_cannot_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(FORWARDER),
            "--port",
            "0",
            "--socket",
            str(tmp_path / "s"),
            "--",
            str(tmp_path / "no-such-program"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 127
    assert done.stderr.startswith("forwarder: failed to execute ")


# -- an agent's network setting ---------------------------------------------------------


def test_an_allowlist_runs_the_command_behind_the_forwarder_and_logs_refusals(
    origin: tuple[int, list], bystander: socket.socket
) -> None:
    port, seen = origin
    other = bystander.getsockname()[1]
    log = BlockedLog()
    with egress([f"127.0.0.1:{port}"], log, sandboxed=False) as running:
        assert running is not None
        argv = running.wrap(
            [
                sys.executable,
                "-c",
                _FETCH,
                f"http://127.0.0.1:{port}/x",
                f"http://127.0.0.1:{other}/",
            ]
        )
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        socket_path = running.socket
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1] == "hello from the allowed server"
    assert seen == [("/x", None)]
    assert log.entries() == [{"target": f"127.0.0.1:{other}", "reason": "not_allowed", "count": 1}]
    assert not socket_path.exists()  # the proxy lives exactly as long as the run


@pytest.mark.parametrize("setting", ["none", "host"])
def test_no_proxy_runs_for_none_or_host(setting: str) -> None:
    with egress(setting, BlockedLog(), sandboxed=True) as running:  # type: ignore[arg-type]
        assert running is None


def test_the_sandboxed_command_reaches_the_proxy_at_the_bound_path() -> None:
    with egress([], BlockedLog(), sandboxed=True) as running:
        assert running is not None
        argv = running.wrap(["true"])
    assert argv[argv.index("--socket") + 1] == INSIDE_SOCKET
    assert argv[-2:] == ["--", "true"]


def test_a_network_entry_that_is_not_host_and_port_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        check_network(["pypi.org"])


def test_a_dead_workers_socket_folder_is_swept_and_a_live_ones_is_kept(
    origin: tuple[int, list],
) -> None:
    port, _ = origin
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = Path(tempfile.mkdtemp(prefix=f"fc-egress-{int(child.stdout)}-"))
    (dead / "proxy.sock").touch()
    with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), lambda b: None) as proxy:
        removed = sweep_abandoned_sockets()
        assert dead in removed and not dead.exists()
        assert proxy.socket_path.exists()  # this process is alive: its proxy keeps its socket
