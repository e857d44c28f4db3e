"""Webhook intake throughput and latency against a real uvicorn, next to its ceiling, and the
time from a delivery to its 👀 reaction.

    python bench/intake.py [--seconds 3] [--concurrency 1,16,64] [--engines sqlite,postgres]
                           [--reaction-seconds 10] [--reaction-rate 50]

What is measured: signed, real-shaped ``issue_comment.created`` deliveries, each a new
comment ``/farcaster rename a b`` by a writer, POSTed to ``/api/github/webhooks`` of
``webhooks.app.create_app`` served by uvicorn (one process, access log off). Intake accepts
first: each one answered 202 ``undecided`` committed its delivery row (the raw body,
compressed on SQLite, as received on PostgreSQL) in one statement, with no GitHub call; the
triage loop, which decides it later, does not run in the measured process. Figures:
deliveries/s and p50/p99 latency at each concurrency (connections kept alive, each sending
its next delivery as soon as the last is answered).

The peer (the ceiling): a bare FastAPI endpoint in the same kind of uvicorn process that
only reads the body and checks the signature; the ratio says what intake costs on top. All
servers are up together and the runs are interleaved level by level (ceiling, then each
engine), so that a change in the machine's load moves them alike.

GitHub: a tiny local fake (a separate uvicorn process) answers the installation token, the
collaborator permission and the branch head, so the app is configured as in production;
intake asks it nothing. It also takes reactions (timing each one's arrival) and comments.

The reaction measure: a process built as ``farcaster serve --workers 1`` builds it (the app,
the triage thread, one worker loop whose outbox drainer posts the feedback; a job it claims
is ended at once, since no agent runs here) on a fresh database, sent deliveries at
``--reaction-rate`` a second for ``--reaction-seconds`` (open loop: on schedule, whatever
the answers), each about a new comment; figures: the time from sending a delivery to its
``eyes`` reaction reaching the fake GitHub, and to triage's decision (``decided_at``; one
clock, the host's, which the databases read too). GitHub write pacing is off there
(``FARCASTER_WRITES_PER_MINUTE=0``): real GitHub would not take 50 reactions a second from
one App anyway, and the figure is what Farcaster itself adds.

Databases: fresh SQLite files and fresh PostgreSQL databases (BENCH_PG, default
postgresql://postgres@127.0.0.1:5432), migrated, created and dropped here. Each
configuration runs a short warm-up and then ``--seconds`` of load.
"""

import argparse
import asyncio
import itertools
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
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

    from bot.app.heap import freeze_startup_objects
    from bot.app.runtime import Runtime
    from bot.core.settings import Settings
    from webhooks.app import create_app

    runtime = Runtime.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    app = create_app(runtime)
    freeze_startup_objects()  # as `farcaster serve` does before it listens
    uvicorn.run(app, port=port, log_level="warning", access_log=False)


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
    from fastapi import FastAPI, Request

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

    # Feedback (the reaction measure): reactions are timed as they arrive; comments (status,
    # report) are accepted and forgotten.
    reacted: dict[int, float] = {}
    comments = itertools.count(1)

    @app.post("/api/v3/repos/{owner}/{repo}/issues/comments/{comment}/reactions", status_code=201)
    async def reaction(owner: str, repo: str, comment: int) -> dict[str, object]:
        reacted.setdefault(comment, time.time())  # this host's clock, as the databases' is
        return {"id": comment, "content": "eyes"}

    @app.get("/api/v3/repos/{owner}/{repo}/issues/{number}/comments")
    async def list_comments(owner: str, repo: str, number: int) -> list[object]:
        return []

    def comment_of(number: int, body: object) -> dict[str, object]:
        bot = {"login": "farcaster[bot]", "type": "Bot"}
        url = f"https://github.com/o/r/issues/1#issuecomment-{number}"
        return {"id": number, "body": body, "user": bot, "html_url": url}

    @app.post("/api/v3/repos/{owner}/{repo}/issues/{number}/comments", status_code=201)
    async def create_comment(owner: str, repo: str, number: int, request: Request) -> object:
        return comment_of(next(comments), (await request.json()).get("body"))

    @app.patch("/api/v3/repos/{owner}/{repo}/issues/comments/{comment}")
    async def edit_comment(owner: str, repo: str, comment: int, request: Request) -> object:
        return comment_of(comment, (await request.json()).get("body"))

    @app.get("/bench/reactions")
    async def reactions() -> dict[str, float]:
        return {str(k): v for k, v in reacted.items()}

    uvicorn.run(app, port=port, log_level="warning", access_log=False)


def role_serve(port: int) -> None:
    """What ``farcaster serve --workers 1`` runs, for the reaction measure: the intake app,
    the triage thread (webhooks/background.py) and a worker loop (its outbox drainer posts
    the reactions; a job it claims is ended at once, as no agent runs here)."""
    import threading

    import uvicorn

    from bot.app.heap import freeze_startup_objects
    from bot.app.runtime import Runtime
    from bot.app.workers import build_worker_loop
    from bot.core.records import Phase
    from bot.core.settings import Settings
    from webhooks.app import create_app
    from webhooks.background import start_background

    def end_at_once(services: object, lease: object, guard: object) -> None:
        guard.complete(services.store)  # type: ignore[attr-defined]

    runtime = Runtime.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    app = create_app(runtime)
    start_background(runtime, app.state.context, app.state.router, app.state.wake)
    loop = build_worker_loop(
        runtime, handlers={Phase.RUN: end_at_once, Phase.APPLY: end_at_once}, triage=False
    )
    threading.Thread(target=loop.run_forever, args=(threading.Event(),), daemon=True).start()
    freeze_startup_objects()  # as `farcaster serve` does before it listens
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


COMMENT_ID_PLACEHOLDER = 918273645546
_COMMENT_IDS = itertools.count(COMMENT_ID_PLACEHOLDER + 1)  # unique across the whole run


class Deliveries:
    """Signed requests for new comments, built from one real payload by byte substitution."""

    def __init__(self, port: int) -> None:
        from webhooks.signature import sign

        self._sign = sign
        payload = json.loads(SAMPLE.read_text())
        payload["comment"]["body"] = "/farcaster rename a b"
        payload["comment"]["node_id"] = "NODE_ID_PLACEHOLDER"
        payload["comment"]["id"] = COMMENT_ID_PLACEHOLDER
        payload["comment"]["user"]["login"] = "writer"
        payload["sender"]["login"] = "writer"
        self._template = json.dumps(payload).encode()
        assert self._template.count(str(COMMENT_ID_PLACEHOLDER).encode()) == 1
        self._host = f"127.0.0.1:{port}".encode()

    def next(self) -> bytes:
        return self.next_comment()[0]

    def next_comment(self) -> tuple[bytes, int, str]:
        """A request about a new comment, that comment's id and the delivery id."""
        unique = uuid.uuid4().hex
        comment = next(_COMMENT_IDS)
        body = self._template.replace(b"NODE_ID_PLACEHOLDER", f"IC_{unique}".encode()).replace(
            str(COMMENT_ID_PLACEHOLDER).encode(), str(comment).encode()
        )
        headers = (
            b"POST /api/github/webhooks HTTP/1.1\r\nHost: " + self._host + b"\r\n"
            b"Content-Type: application/json\r\nX-GitHub-Event: issue_comment\r\n"
            b"X-GitHub-Delivery: " + unique.encode() + b"\r\n"
            b"X-Hub-Signature-256: " + self._sign(SECRET, body).encode() + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        return headers + body, comment, unique


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


@dataclass
class Reactions:
    engine: str
    sent: int
    latencies: list[float]  # delivery sent -> its reaction at the fake GitHub
    decided: list[float]  # delivery sent -> triage's decision committed
    rate: float

    @staticmethod
    def quantile(values: list[float], q: float) -> float:
        return Result("", 0, 0, 1, values, 0, 0).quantile(q)


async def reaction_load(
    port: int, github_port: int, rate: float, seconds: float, url: str
) -> Reactions:
    """Deliveries sent at ``rate`` a second (open loop: on schedule, whatever the answers),
    then the wait for each one's reaction at the fake GitHub (at most 30 s after the last)."""
    deliveries = Deliveries(port)
    connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(16):
        connections.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    sent: dict[int, tuple[float, str]] = {}
    refused: list[int] = []

    async def fire(request: bytes, comment: int, delivery_id: str) -> None:
        reader, writer = await connections.get()
        sent[comment] = (time.time(), delivery_id)
        status, _ = await exchange(reader, writer, request)
        connections.put_nowait((reader, writer))
        if status != 202:  # refused: no reaction will come; counted as not reacted
            del sent[comment]
            refused.append(status)

    tasks = []
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(fire(*deliveries.next_comment())))
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + 30
    reacted: dict[str, float] = {}
    while time.monotonic() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", github_port)
        request = b"GET /bench/reactions HTTP/1.1\r\nHost: github\r\n\r\n"
        _, body = await exchange(reader, writer, request)
        writer.close()
        reacted = json.loads(body)
        if all(str(c) in reacted for c in sent):
            break
        await asyncio.sleep(0.5)
    while not connections.empty():
        connections.get_nowait()[1].close()
    decisions = decided_at(url)
    return Reactions(
        "",
        len(sent) + len(refused),
        [reacted[str(c)] - t for c, (t, _) in sent.items() if str(c) in reacted],
        [decisions[d] - t for t, d in sent.values() if d in decisions],
        rate,
    )


def decided_at(url: str) -> dict[str, float]:
    """When triage decided each delivery (the database clock: this host's)."""
    from sqlalchemy import select

    from bot.store.engine import make_engine
    from bot.store.tables import DELIVERIES

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(DELIVERIES.c.delivery_id, DELIVERIES.c.decided_at)
            return {str(d): float(t) for d, t in conn.execute(query) if t is not None}
    finally:
        engine.dispose()


# -- the run ------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    if args.role:
        roles = {"app": role_app, "ceiling": role_ceiling, "github": role_github}
        roles["serve"] = role_serve
        roles[args.role](args.port)
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    engines = args.engines.split(",")
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{args.seconds:g} s per configuration after a {WARMUP_SECONDS:g} s warm-up; "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print("Intake stores each delivery and answers; triage does not run in the measured process.")
    results: dict[str, list[Result]] = {"ceiling": []}
    reactions: list[Reactions] = []
    key = rsa_key()
    with ExitStack() as stack:
        ceiling = stack.enter_context(process("ceiling"))
        github_port = stack.enter_context(process("github"))
        urls = {engine: stack.enter_context(fresh_database(engine)) for engine in engines}
        ports = {
            engine: stack.enter_context(process("app", app_env(urls[engine], github_port, key)))
            for engine in engines
        }
        # Interleaved, level by level: the ceiling and each engine a few seconds apart, so
        # that a change in the machine's load moves them alike.
        for c in levels:
            results["ceiling"].append(
                asyncio.run(load(ceiling, c, args.seconds, "ceiling (signature only)"))
            )
            for engine in engines:
                run = asyncio.run(load(ports[engine], c, args.seconds, engine))
                results.setdefault(engine, []).append(run)
        for engine in engines:
            stored = count_deliveries(urls[engine])
            # Warm-up deliveries are stored too; every 202 "undecided" is one row.
            assert stored >= sum(r.created for r in results[engine]), (stored, engine)
        if args.reaction_seconds > 0:
            env = {"FARCASTER_WRITES_PER_MINUTE": "0", "FARCASTER_RECOVERY_INTERVAL_SECONDS": "0"}
            for engine in engines:
                with (
                    fresh_database(engine) as url,
                    process("serve", {**app_env(url, github_port, key), **env}) as port,
                ):
                    measured = asyncio.run(
                        reaction_load(
                            port, github_port, args.reaction_rate, args.reaction_seconds, url
                        )
                    )
                    reactions.append(replace(measured, engine=engine))
    report(results, levels)
    report_reactions(reactions, args.reaction_seconds)
    return 0


def app_env(url: str, github_port: int, key: str) -> dict[str, str]:
    return {
        "FARCASTER_DATABASE_URL": url,
        "FARCASTER_GITHUB_API_URL": f"http://127.0.0.1:{github_port}/api/v3",
        "FARCASTER_GITHUB_APP_ID": "1",
        "FARCASTER_GITHUB_PRIVATE_KEY": key,
        "FARCASTER_WEBHOOK_SECRET": SECRET,
    }


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


def report_reactions(reactions: list[Reactions], seconds: float) -> None:
    if not reactions:
        return
    print()
    print(
        f"Delivery to its eyes reaction at the fake GitHub, {reactions[0].rate:g} deliveries/s "
        f"for {seconds:g} s (open loop), serve-style process: intake, triage thread, a worker "
        "loop draining the outbox; write pacing off. 'decided': sent to triage's decision."
    )
    print(
        f"{'engine':<12}{'sent':>6}{'reacted':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'decided p50':>13}{'p99':>9}"
    )
    q = Reactions.quantile
    for r in reactions:
        worst = max(r.latencies) * 1000 if r.latencies else float("nan")
        print(
            f"{r.engine:<12}{r.sent:>6}{len(r.latencies):>9}{q(r.latencies, 0.5) * 1000:>9.1f}"
            f"{q(r.latencies, 0.99) * 1000:>9.1f}{worst:>9.1f}"
            f"{q(r.decided, 0.5) * 1000:>13.1f}{q(r.decided, 0.99) * 1000:>9.1f}"
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
    parser.add_argument(
        "--reaction-seconds",
        type=float,
        default=10.0,
        help="how long the reaction measure sends deliveries (0: skip it)",
    )
    parser.add_argument("--reaction-rate", type=float, default=50.0, help="its deliveries/s")
    parser.add_argument(
        "--role", choices=["app", "ceiling", "github", "serve"], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
