"""Webhook intake throughput and latency against a real uvicorn, next to its ceiling.

    python bench/intake.py [--seconds 3] [--concurrency 1,16,64] [--engines sqlite,postgres]

What is measured: signed, real-shaped ``issue_comment.created`` deliveries, each a new
comment ``/farcaster rename a b`` by a writer, POSTed to ``/api/github/webhooks`` of
``webhooks.app.create_app`` served by uvicorn (one process, access log off). Intake accepts
first: each one answered 202 ``undecided`` committed its delivery row (the raw body,
compressed) in one statement, with no GitHub call; the triage loop, which decides it later,
does not run in the measured process. Figures: deliveries/s and p50/p99 latency at each
concurrency (connections kept alive, each sending its next delivery as soon as the last is
answered).

The peer (the ceiling): a bare FastAPI endpoint in the same kind of uvicorn process that
only reads the body and checks the signature; the ratio says what intake costs on top.

GitHub: a tiny local fake (a separate uvicorn process) answers the installation token, the
collaborator permission and the branch head, so the app is configured as in production;
intake asks it nothing.

Databases: a fresh SQLite file and a fresh PostgreSQL database (BENCH_PG, default
postgresql://postgres@127.0.0.1:5432), migrated, created and dropped here. Each
configuration runs a short warm-up and then ``--seconds`` of load.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"
SAMPLE = ROOT / "tests" / "samples" / "webhooks" / "issue_comment.created.with-installation.json"
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
WARMUP_SECONDS = 0.5


# -- the processes under test -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def role_app(port: int) -> None:
    """The real intake app on the database and GitHub given by FARCASTER_* variables."""
    import uvicorn

    from bot.app.runtime import Runtime
    from bot.core.settings import Settings
    from webhooks.app import create_app

    runtime = Runtime.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    uvicorn.run(create_app(runtime), port=port, log_level="warning", access_log=False)


def role_ceiling(port: int) -> None:
    """The peer: read the body, check the signature, answer. Nothing else."""
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from webhooks.signature import is_valid_signature

    app = FastAPI()

    @app.post("/api/github/webhooks")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if not is_valid_signature(SECRET, body, request.headers.get("x-hub-signature-256")):
            return JSONResponse({"error": "bad_signature"}, status_code=401)
        return JSONResponse({"outcome": "accepted"}, status_code=202)

    uvicorn.run(app, port=port, log_level="warning", access_log=False)


def role_github(port: int) -> None:
    """A tiny fake GitHub: installation token, collaborator permission, branch head."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/api/v3/app/installations/{installation}/access_tokens", status_code=201)
    async def token(installation: int) -> dict[str, str]:
        return {"token": "ghs_bench", "expires_at": "2099-01-01T00:00:00Z"}

    @app.get("/api/v3/repos/{owner}/{repo}/collaborators/{user}/permission")
    async def permission(owner: str, repo: str, user: str) -> dict[str, str]:
        return {"permission": "write", "role_name": "write"}

    @app.get("/api/v3/repos/{owner}/{repo}/git/ref/heads/{branch:path}")
    async def head(owner: str, repo: str, branch: str) -> dict[str, object]:
        return {"ref": f"refs/heads/{branch}", "object": {"sha": "a" * 40}}

    uvicorn.run(app, port=port, log_level="warning", access_log=False)


@contextmanager
def process(role: str, env: dict[str, str] | None = None) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--role", role, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_listening(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {port} server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


# -- databases ----------------------------------------------------------------------------


@contextmanager
def fresh_database(engine: str) -> Iterator[str]:
    from bot.store.migrate import upgrade

    if engine == "sqlite":
        directory = tempfile.mkdtemp(prefix="farcaster-bench-")
        url = f"sqlite:///{directory}/intake.db"
        try:
            upgrade(url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    import psycopg

    name = f"farcaster_bench_intake_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_ADMIN}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(f"{PG_ADMIN}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_deliveries(url: str) -> int:
    from sqlalchemy import func, select

    from bot.store.engine import make_engine
    from bot.store.tables import DELIVERIES

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(DELIVERIES)).scalar_one())
    finally:
        engine.dispose()


# -- the load -----------------------------------------------------------------------------


class Deliveries:
    """Signed requests for new comments, built from one real payload by byte substitution."""

    def __init__(self, port: int) -> None:
        from webhooks.signature import sign

        self._sign = sign
        payload = json.loads(SAMPLE.read_text())
        payload["comment"]["body"] = "/farcaster rename a b"
        payload["comment"]["node_id"] = "NODE_ID_PLACEHOLDER"
        payload["comment"]["user"]["login"] = "writer"
        payload["sender"]["login"] = "writer"
        self._template = json.dumps(payload).encode()
        self._host = f"127.0.0.1:{port}".encode()

    def next(self) -> bytes:
        unique = uuid.uuid4().hex
        body = self._template.replace(b"NODE_ID_PLACEHOLDER", f"IC_{unique}".encode())
        headers = (
            b"POST /api/github/webhooks HTTP/1.1\r\nHost: " + self._host + b"\r\n"
            b"Content-Type: application/json\r\nX-GitHub-Event: issue_comment\r\n"
            b"X-GitHub-Delivery: " + unique.encode() + b"\r\n"
            b"X-Hub-Signature-256: " + self._sign(SECRET, body).encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        return headers + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection (a minimal client: cheap on CPU)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


@dataclass
class Result:
    label: str
    concurrency: int
    done: int
    seconds: float
    latencies: list[float]
    errors: int
    created: int

    @property
    def per_second(self) -> float:
        return self.done / self.seconds

    def quantile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q * 100) - 1]


async def load(port: int, concurrency: int, seconds: float, label: str) -> Result:
    deliveries = Deliveries(port)
    latencies: list[float] = []
    errors = 0
    created = 0
    start = time.perf_counter() + WARMUP_SECONDS
    stop = start + seconds

    async def connection() -> None:
        nonlocal errors, created
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                sent = time.perf_counter()
                if sent >= stop:
                    return
                status, body = await exchange(reader, writer, deliveries.next())
                answered = time.perf_counter()
                if sent < start:
                    continue  # warm-up
                if status != 202:
                    errors += 1
                    continue
                latencies.append(answered - sent)
                if b'"undecided"' in body:
                    created += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return Result(label, concurrency, len(latencies), seconds, latencies, errors, created)


# -- the run ------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if args.role:
        {"app": role_app, "ceiling": role_ceiling, "github": role_github}[args.role](args.port)
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    engines = args.engines.split(",")
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.seconds:g} s per configuration after a {WARMUP_SECONDS:g} s warm-up"
    )
    print("Intake stores each delivery and answers; triage does not run in the measured process.")
    results: dict[str, list[Result]] = {}
    with process("ceiling") as port:
        results["ceiling"] = [
            asyncio.run(load(port, c, args.seconds, "ceiling (signature only)")) for c in levels
        ]
    with process("github") as github_port:
        key = rsa_key()
        for engine in engines:
            with fresh_database(engine) as url:
                env = {
                    "FARCASTER_DATABASE_URL": url,
                    "FARCASTER_GITHUB_API_URL": f"http://127.0.0.1:{github_port}/api/v3",
                    "FARCASTER_GITHUB_APP_ID": "1",
                    "FARCASTER_GITHUB_PRIVATE_KEY": key,
                    "FARCASTER_WEBHOOK_SECRET": SECRET,
                }
                with process("app", env) as port:
                    runs = [asyncio.run(load(port, c, args.seconds, engine)) for c in levels]
                stored = count_deliveries(url)
                results[engine] = runs
                # Warm-up deliveries are stored too; every 202 "undecided" is one row.
                assert stored >= sum(r.created for r in runs), (stored, runs)
    report(results, levels)
    return 0


def report(results: dict[str, list[Result]], levels: list[int]) -> None:
    ceiling = {r.concurrency: r for r in results["ceiling"]}
    print()
    print(
        f"{'configuration':<26}{'conc':>5}{'deliveries/s':>14}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'vs ceiling':>12}"
    )
    for name, runs in results.items():
        label = "ceiling (signature only)" if name == "ceiling" else f"intake on {name}"
        for r in runs:
            ratio = r.per_second / ceiling[r.concurrency].per_second
            print(
                f"{label:<26}{r.concurrency:>5}{r.per_second:>14.1f}{r.quantile(0.5) * 1000:>9.2f}"
                f"{r.quantile(0.99) * 1000:>9.2f}{r.errors:>8}{ratio:>11.1%}"
            )


def rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--role", choices=["app", "ceiling", "github"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
