"""A whole Farcaster on one machine: the GitHub emulator, `farcaster serve`, workers, SQLite.

`farcaster demo` and the end-to-end tests drive this. Every piece is a real process started
the way an operator would start it, configured only through ``FARCASTER_*`` variables, so a
test can end any of them with SIGKILL or a fault point and start fresh ones.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.core.records import Job, JobState
from bot.emulator.control import EmulatorControl, start_emulator_process
from bot.github.client import GitHubClient
from bot.store import Database, Store
from bot.store.deliveries import UNDECIDED, Deliveries, DeliveryRecord
from bot.store.migrate import upgrade
from bot.store.outbox import Outbox

SAMPLE_REPO = Path(__file__).parents[1] / "demo" / "sample_repo"
WEBHOOK_SECRET = "farcaster-world-secret"
APP_ID = 4242
INSTALLATION_ID = 77
BOT_LOGIN = "farcaster[bot]"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_url(port: int) -> str:
    """Where the App's webhook points: the ``farcaster serve`` of this world."""
    return f"http://127.0.0.1:{port}/api/github/webhooks"


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; a clear error naming ``what`` when it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class World:
    root: Path
    database_url: str
    lease_seconds: float
    emulator: subprocess.Popen[bytes]
    base_url: str
    gh: EmulatorControl
    key_path: Path
    server_port: int
    sandbox: bool = True  # FARCASTER_SANDBOX=on for every process it starts (off: unsafe)
    owner: str = "acme"
    repo: str = "inventory"
    server: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # More FARCASTER_* settings for every process started from now on (e.g. tree chunk bounds).
    settings_env: dict[str, str] = field(default_factory=dict)
    store: Store = field(init=False)
    deliveries: Deliveries = field(init=False)
    _client: GitHubClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.store = Store(Database.from_url(self.database_url), lease_seconds=self.lease_seconds)
        self.deliveries = Deliveries(self.store.db, self.store, Outbox(self.store.db))

    # -- life -----------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        database_url: str | None = None,
        lease_seconds: float = 3.0,
        sample: Path = SAMPLE_REPO,
        sandbox: bool | None = None,
    ) -> "World":
        """``sandbox=None``: agents run in bubblewrap where it works, and without it (unsafe,
        as on a development machine) where it does not."""
        root.mkdir(parents=True, exist_ok=True)
        if sandbox is None:
            from bot.sandbox.startup import sandbox_available

            sandbox = sandbox_available()
        url = database_url or f"sqlite:///{root / 'farcaster.db'}"
        upgrade(url)
        process, base_url = start_emulator_process(root / "emulator")
        gh = EmulatorControl(base_url)
        port = free_port()
        app = gh.create_app(
            app_id=APP_ID,
            webhook_url=webhook_url(port),
            webhook_secret=WEBHOOK_SECRET,
            slug="farcaster",
        )
        key_path = root / "app-key.pem"
        key_path.write_text(app["private_key_pem"])
        key_path.chmod(0o600)
        gh.create_installation(app_id=APP_ID, account="acme", installation_id=INSTALLATION_ID)
        gh.create_repo("acme", "inventory", folder=str(sample))
        gh.set_permission("acme", "inventory", "alice", "write")
        gh.set_permission("acme", "inventory", "bob", "read")
        return cls(
            root=root,
            database_url=url,
            lease_seconds=lease_seconds,
            emulator=process,
            base_url=base_url,
            gh=gh,
            key_path=key_path,
            server_port=port,
            sandbox=sandbox,
        )

    def env(self, *, fault: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FARCASTER_")}
        env.update(
            FARCASTER_DATABASE_URL=self.database_url,
            FARCASTER_GITHUB_API_URL=self.gh.api_url,
            FARCASTER_GITHUB_APP_ID=str(APP_ID),
            FARCASTER_GITHUB_PRIVATE_KEY_PATH=str(self.key_path),
            FARCASTER_WEBHOOK_SECRET=WEBHOOK_SECRET,
            FARCASTER_LEASE_SECONDS=str(self.lease_seconds),
            FARCASTER_SCRATCH_DIR=str(self.root / "scratch"),
            FARCASTER_SANDBOX="on" if self.sandbox else "off",
        )
        env.update(self.settings_env)
        env.update(extra)
        if fault:
            env["FARCASTER_FAULT"] = fault
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )

    def start_server(
        self, *, workers: int = 0, fault: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start ``farcaster serve`` and wait until it is ready.

        Its port was free when the world started; if another process took it meanwhile
        (tests run side by side), serve exits with "address already in use", and the world
        picks a new port, points the App's webhook at it (the emulator's control API, as at
        start) and starts serve again, up to three times.
        """
        for _ in range(3):
            log = self.root / "server.log"
            start = log.stat().st_size if log.exists() else 0
            self.server = self._spawn(
                "server",
                [
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.server_port),
                    "--workers",
                    str(workers),
                ],
                self.env(fault=fault, **(env or {})),
            )
            try:
                wait_until(self._server_ready, timeout=30, what="farcaster serve to answer /readyz")
                return
            except RuntimeError:
                said = log.read_bytes()[start:].decode(errors="replace")
                if "address already in use" not in said:
                    raise
            self._move_webhook(free_port())
        raise RuntimeError(f"farcaster serve found no free port: {self.log('server')}")

    def _move_webhook(self, port: int) -> None:
        self.gh.update_app(APP_ID, webhook_url=webhook_url(port))
        self.server_port = port

    def _server_ready(self) -> bool:
        if self.server is not None and self.server.poll() is not None:
            raise RuntimeError(
                f"farcaster serve exited with {self.server.returncode}: {self.log('server')}"
            )
        try:
            return (
                httpx.get(f"http://127.0.0.1:{self.server_port}/readyz", timeout=1).status_code
                == 200
            )
        except httpx.HTTPError:
            return False

    def start_worker(
        self,
        name: str,
        *,
        fault: str | None = None,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        process = self._spawn(
            name,
            [
                "worker",
                "--worker-id",
                name,
                "--concurrency",
                str(concurrency),
                "--grace-seconds",
                "5",
            ],
            self.env(fault=fault, **(env or {})),
        )
        self.workers[name] = process
        return process

    def stop_worker(self, name: str) -> None:
        """SIGTERM, as an operator would: the worker finishes or abandons its job and exits."""
        process = self.workers.pop(name)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill(process)

    def kill(self, process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop_processes(self) -> None:
        for process in [*self.workers.values(), self.server]:
            if process is not None and process.poll() is None:
                process.terminate()
        for process in [*self.workers.values(), self.server]:
            if process is not None:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.kill(process)
        self.workers.clear()
        self.server = None

    def close(self) -> None:
        self.stop_processes()
        self.store.db.dispose()
        self.emulator.terminate()
        try:
            self.emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill(self.emulator)

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # -- acting as a maintainer -----------------------------------------------------------

    def open_issue(self, title: str = "Tidy up names", *, user: str = "alice") -> int:
        return int(self.gh.create_issue(self.owner, self.repo, title, user=user)["number"])

    def comment(
        self, number: int, body: str, *, user: str = "alice", decided: bool = True
    ) -> dict[str, Any]:
        """Post a comment as ``user``. Intake stores the delivery and triage decides it a
        moment later: with ``decided`` (and a 202), wait until it is decided."""
        result: dict[str, Any] = self.gh.comment(self.owner, self.repo, number, body, user=user)
        delivery = result.get("delivery") or {}
        if decided and delivery.get("status") == 202 and delivery.get("id"):
            self.wait_for_delivery(str(delivery["id"]))
        return result

    # -- observing ------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        return self.store.list_jobs(repo=f"{self.owner}/{self.repo}")

    def only_job(self) -> Job:
        jobs = self.jobs()
        if len(jobs) != 1:
            raise AssertionError(f"expected one job, found {len(jobs)}")
        return jobs[0]

    def wait_for_state(self, job_id: str, *states: JobState, timeout: float = 60.0) -> Job:
        wait_until(
            lambda: self.store.get(job_id).state in states,
            timeout=timeout,
            what=f"job {job_id} to reach {'/'.join(s.value for s in states)} "
            f"(now {self.store.get(job_id).state.value})",
        )
        return self.store.get(job_id)

    def wait_for_delivery(self, delivery_id: str, timeout: float = 30.0) -> DeliveryRecord:
        """Wait until triage has settled a delivery (decided, or failed for good)."""

        def settled() -> bool:
            record = self.deliveries.find(delivery_id)
            return record is not None and record.state != UNDECIDED

        wait_until(settled, timeout=timeout, what=f"delivery {delivery_id} to be decided")
        record = self.deliveries.find(delivery_id)
        assert record is not None
        return record

    def wait_for_outbox(self, timeout: float = 30.0) -> None:
        from bot.store.outbox import Outbox

        outbox = Outbox(self.store.db)
        wait_until(lambda: outbox.pending_count() == 0, timeout=timeout, what="the outbox to drain")

    def state(self) -> dict[str, Any]:
        return self.gh.repo_state(self.owner, self.repo)

    def github_client(self) -> GitHubClient:
        """The bot's own client, authenticated as the App's installation.

        Its token cache is this world's own: githubkit's default cache is process-wide and
        would hand a token of an earlier emulator to this one.
        """
        if self._client is None:
            from githubkit.cache import MemCacheStrategy

            from bot.core.settings import Settings

            settings = Settings(
                github_api_url=self.gh.api_url,
                github_app_id=APP_ID,
                github_private_key_path=self.key_path,
                _env_file=None,  # type: ignore[call-arg]
            )
            self._client = GitHubClient.for_installation(
                settings, INSTALLATION_ID, cache=MemCacheStrategy()
            )
        return self._client


@contextmanager
def world(root: Path, **kwargs: Any) -> Iterator[World]:
    box = World.start(root, **kwargs)
    try:
        yield box
    finally:
        box.close()
