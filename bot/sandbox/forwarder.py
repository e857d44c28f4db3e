"""The forwarder: inside the sandbox, ``127.0.0.1:PORT`` relayed to the egress proxy's socket.

The sandbox's network namespace has only ``lo``, and the proxy's unix socket is bound in;
HTTP clients want a TCP proxy address. This script (standard library only: it runs under
the sandbox's Python, not Farcaster's) listens on the port, relays each connection to the
socket byte for byte, and runs the command given after ``--``::

    python3 forwarder.py --port 3128 --socket /run/farcaster/proxy.sock -- CMD ARG...

The rules:

- It listens before the command starts, so the command's first connection works, and
  gives the command ``HTTPS_PROXY``, ``HTTP_PROXY`` and their lower-case twins (curl reads
  only ``http_proxy``) naming that address; ``NO_PROXY`` is removed. ``--port 0`` takes a
  free port.
- It adds nothing and decides nothing: the proxy on the other end does both.
- Its exit is the command's: the same exit code, or death by the same signal (so the
  runner tells a CPU limit's SIGKILL from a failure). SIGTERM, SIGINT and SIGHUP are
  passed on to the command. A command that cannot start exits 127, as in a shell.
- Without a command it relays until killed.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading

CHUNK = 65536


def _copy(source: socket.socket, target: socket.socket) -> None:
    """One direction, until end of file; then pass the half-close on."""
    try:
        while data := source.recv(CHUNK):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _relay(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError as exc:
        message = f"the egress proxy is not reachable ({exc.strerror})\n".encode()
        client.sendall(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(message), message)
        )
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
    back.start()
    _copy(client, upstream)
    back.join()
    client.close()
    upstream.close()


def listen(port: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    return server


def serve(server: socket.socket, path: str) -> None:
    while True:
        try:
            client, _ = server.accept()
        except OSError:
            return
        threading.Thread(target=_relay, args=(client, path), daemon=True).start()


def proxy_env(port: int, base: dict[str, str]) -> dict[str, str]:
    """``base`` with every proxy variable naming the forwarder, and no exceptions."""
    env = {k: v for k, v in base.items() if k.lower() not in ("no_proxy", "all_proxy")}
    address = f"http://127.0.0.1:{port}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY"):
        env[name] = env[name.lower()] = address
    return env


def run(argv: list[str], env: dict[str, str]) -> int:
    """Run the command; its exit code, or minus the signal that killed it."""
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        print(f"forwarder: failed to execute {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 127

    def pass_on(signum: int, _frame: object) -> None:
        child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, pass_on)
    return child.wait()


def exit_like(code: int) -> None:
    """Exit as the command did: the same code, or killed by the same signal."""
    if code < 0:
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be handled
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # the signal could not kill us (pid 1): say it the shell's way
    sys.exit(code)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    server = listen(options.port)
    relay = threading.Thread(target=serve, args=(server, options.socket), daemon=True)
    relay.start()
    if not command:
        relay.join()
        return
    port = server.getsockname()[1]
    exit_like(run(command, proxy_env(port, dict(os.environ))))


if __name__ == "__main__":
    main()
