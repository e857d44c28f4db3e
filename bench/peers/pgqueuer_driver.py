"""pgqueuer 1.6.0 through its public API, for bench/claim.py (run with bench/.venv-peers).

    install --dsn DSN                      the `pgq install` schema (durable, its default)
    load --dsn DSN --jobs N [--sleep S]    one bulk `Queries.enqueue` of N jobs
    run --dsn DSN --name NAME ...          one runner process (see bench/peers/protocol.py)

A runner is one ``PgQueuer`` over one asyncpg connection. ``--batch`` is its dequeue batch
size (pgqueuer runs every job it fetched as a task, so this is its concurrency);
``--max-tasks`` optionally caps the jobs it holds (pgqueuer requires >= 2 x batch).
No-op jobs use the entrypoint ``noop``; ``--sleep S`` jobs use ``sleep`` and carry their
key as payload. The connection's ``application_name`` is the runner's name, so the
benchmark's audit trigger can tell who finished a job.
"""

import argparse
import asyncio
import signal
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, PgQueuer, Queries
from pgqueuer.models import Job
from pgqueuer.types import QueueExecutionMode
from protocol import ready_and_wait, result, trace


async def install(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def load(dsn: str, jobs: int, sleep: float) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        if sleep:
            payloads: list[bytes | None] = [f"p{n:05d}".encode() for n in range(jobs)]
            await queries.enqueue(["sleep"] * jobs, payloads, [0] * jobs)
        else:
            await queries.enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.dsn, server_settings={"application_name": args.name})
    pgq = PgQueuer(AsyncpgDriver(conn))
    ran = 0

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        nonlocal ran
        ran += 1

    @pgq.entrypoint("sleep")
    async def sleep(job: Job) -> None:
        nonlocal ran
        key = (job.payload or b"").decode()
        trace(args.trace, "start", key)
        await asyncio.sleep(args.sleep)
        ran += 1
        trace(args.trace, "finish", key)

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, pgq.shutdown.set)
    started = await asyncio.get_running_loop().run_in_executor(None, ready_and_wait)
    await pgq.run(
        batch_size=args.batch,
        mode=QueueExecutionMode.drain if args.drain else QueueExecutionMode.continuous,
        max_concurrent_tasks=args.max_tasks,
        dequeue_timeout=timedelta(seconds=args.dequeue_timeout),
        heartbeat_timeout=timedelta(seconds=args.heartbeat_timeout),
    )
    result(started, ran)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["install", "load", "run"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--name", default="runner")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--max-tasks", type=int, default=None)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--dequeue-timeout", type=float, default=30.0)
    parser.add_argument("--heartbeat-timeout", type=float, default=30.0)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.command == "install":
        asyncio.run(install(args.dsn))
    elif args.command == "load":
        asyncio.run(load(args.dsn, args.jobs, args.sleep))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
