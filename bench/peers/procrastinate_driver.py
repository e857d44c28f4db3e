"""procrastinate 3.10.0 through its public API, for bench/claim.py (run with bench/.venv-peers).

    install --dsn DSN                      `procrastinate schema --apply`, from code
    load --dsn DSN --jobs N [--sleep S]    `batch_defer_async` in chunks of 1,000
    run --dsn DSN --name NAME ...          one runner process (see bench/peers/protocol.py)

A runner is ``App.run_worker_async`` with ``--concurrency`` sub-workers, polling
(``listen_notify=False``) and keeping finished jobs (``delete_jobs="never"``). With
``--stalled S`` it also runs the loop that procrastinate's documentation prescribes for
jobs of dead workers ("Retry stalled jobs": ``job_manager.get_stalled_jobs`` then
``retry_job``), every second, with workers heartbeating every S/3 and declared stalled
after S. Its connections carry the runner's name as ``application_name``.
"""

import argparse
import asyncio
import contextlib
import logging

from procrastinate import App, PsycopgConnector
from protocol import ready_and_wait, result, trace

CHUNK = 1000
QUEUE = "bench"
RAN = [0]  # job bodies run by this process


def make_app(dsn: str, name: str, args: argparse.Namespace | None = None) -> App:
    """The app with its two tasks; ``app.job_manager`` etc. are procrastinate's own."""
    app = App(connector=PsycopgConnector(conninfo=dsn, kwargs={"application_name": name}))

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        RAN[0] += 1

    @app.task(name="sleep", queue=QUEUE)
    async def sleep(key: str) -> None:
        enabled = bool(args and args.trace)
        trace(enabled, "start", key)
        await asyncio.sleep(args.sleep if args else 0.0)
        RAN[0] += 1
        trace(enabled, "finish", key)

    return app


async def install(dsn: str) -> None:
    app = make_app(dsn, "bench-install")
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def load(dsn: str, jobs: int, sleep: float) -> None:
    app = make_app(dsn, "bench-load")
    async with app.open_async():
        task = app.tasks["sleep" if sleep else "noop"]
        for first in range(0, jobs, CHUNK):
            keys = range(first, min(first + CHUNK, jobs))
            await task.batch_defer_async(*[{"key": f"p{n:05d}"} if sleep else {} for n in keys])


async def retry_stalled_jobs(app: App, stalled_after: float) -> None:
    """The documented recipe, as a loop: put jobs of workers that stopped beating back."""
    while True:
        await asyncio.sleep(1.0)
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            # Both runners run this loop; the loser of a race finds the job no longer doing.
            with contextlib.suppress(Exception):
                await app.job_manager.retry_job(job)


async def run(args: argparse.Namespace) -> None:
    app = make_app(args.dsn, args.name, args)
    async with app.open_async():
        started = await asyncio.get_running_loop().run_in_executor(None, ready_and_wait)
        retrier = None
        if args.stalled:
            retrier = asyncio.create_task(retry_stalled_jobs(app, args.stalled))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=args.concurrency,
                wait=not args.drain,
                listen_notify=False,
                fetch_job_polling_interval=args.poll,
                delete_jobs="never",
                # Without --stalled, procrastinate's defaults (10 s, 30 s).
                update_heartbeat_interval=args.stalled / 3 if args.stalled else 10.0,
                stalled_worker_timeout=args.stalled or 30.0,
            )
        finally:
            if retrier is not None:
                retrier.cancel()
    result(started, RAN[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["install", "load", "run"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--name", default="runner")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--poll", type=float, default=5.0)
    parser.add_argument("--stalled", type=float, default=0.0)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    # procrastinate logs every job at INFO; a benchmark wants only its warnings and errors.
    logging.basicConfig(level=logging.WARNING)
    if args.command == "install":
        asyncio.run(install(args.dsn))
    elif args.command == "load":
        asyncio.run(load(args.dsn, args.jobs, args.sleep))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
