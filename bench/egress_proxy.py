"""What the egress proxy costs an allowlisted agent, against a direct connection.

A local HTTP server answers ``GET /`` with a small body or a large one. The same requests go
directly (TCP to 127.0.0.1, the peer) and through :class:`bot.sandbox.proxy.EgressProxy`
(its Unix socket, ``CONNECT``, then the request inside the tunnel), and the script prints,
for each: the median and 90th percentile time of a small request on a fresh connection
(what every pip or git connection pays once), and the throughput of a large body (a
download). The forwarder inside the sandbox adds one more local hop, not measured here.

    .venv/bin/python bench/egress_proxy.py [--requests 300] [--megabytes 64]
"""

import argparse
import http.server
import socket
import statistics
import threading
import time
from collections.abc import Callable

from bot.sandbox.proxy import Allowlist, EgressProxy

SMALL = b"ok"


def serve(large: bytes) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            body = large if self.path == "/large" else SMALL
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def fetch(open_socket: Callable[[], socket.socket], path: str) -> int:
    conn = open_socket()
    conn.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    received = 0
    while chunk := conn.recv(1 << 16):
        received += len(chunk)
    conn.close()
    return received


def direct(port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection(("127.0.0.1", port))


def tunnelled(proxy: EgressProxy, port: int) -> Callable[[], socket.socket]:
    def open_socket() -> socket.socket:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(proxy.socket_path))
        conn.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += conn.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200 "), reply
        return conn

    return open_socket


def measure(open_socket: Callable[[], socket.socket], requests: int, size: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        fetch(open_socket, "/")
        times.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    assert fetch(open_socket, "/large") >= size
    seconds = time.perf_counter() - started
    return [statistics.median(times), statistics.quantiles(times, n=10)[-1], size / seconds / 1e6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--megabytes", type=int, default=64)
    args = parser.parse_args()
    size = args.megabytes * 1_000_000
    server, port = serve(b"x" * size)
    try:
        peer = measure(direct(port), args.requests, size)
        with EgressProxy(Allowlist([f"127.0.0.1:{port}"]), lambda _blocked: None) as proxy:
            ours = measure(tunnelled(proxy, port), args.requests, size)
    finally:
        server.shutdown()
        server.server_close()
    print(f"{'':24}{'direct (peer)':>16}{'egress proxy':>16}{'ours - peer':>14}{'ours / peer':>13}")
    labels = ["request p50 (ms)", "request p90 (ms)", "download (MB/s)"]
    for label, theirs, mine in zip(labels, peer, ours, strict=True):
        print(f"{label:24}{theirs:16.2f}{mine:16.2f}{mine - theirs:14.2f}{mine / theirs:13.2f}")


if __name__ == "__main__":
    main()
