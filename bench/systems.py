"""The three systems under test, each driven by its own small script.

Ours runs with the project's interpreter; the peers run with ``bench/.venv-peers``, a
virtual environment this module creates (and fills from PyPI) when it is missing.

Concurrency, per system (``processes x concurrency`` in the tables):

* ours: slots per runner; the worker loop claims as many jobs as it has free slots, in one
  statement (claim 1 + complete: each slot claims one job at a time).
* pgqueuer: the dequeue batch size (pgqueuer runs every job it fetched as a task).
* procrastinate: ``run_worker_async(concurrency=C)`` sub-workers.
"""

import functools
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pgserver
from runners import ROOT, Runner, run_command

PEERS_VENV = ROOT / "bench" / ".venv-peers"
PEER_PINS = {"pgqueuer": "1.6.0", "procrastinate": "3.10.0"}
PEER_PACKAGES = ["pgqueuer[asyncpg]==1.6.0", "procrastinate[psycopg]==3.10.0"]

# The pause scenario's liveness settings, equal for all (notes/queues.md 9.4 (3)).
LEASE_SECONDS = 6.0
HEARTBEAT_SECONDS = 2.0
PAUSE_SLOTS = 2


@functools.cache
def peers_python() -> Path:
    """The peers' interpreter; creates and fills bench/.venv-peers when needed."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {PEERS_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    if installed_versions(python) != PEER_PINS:
        print(f"installing {' '.join(PEER_PACKAGES)} ...", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PEER_PACKAGES], check=True)
    return python


def installed_versions(python: Path) -> dict[str, str]:
    probe = (
        "import importlib.metadata as m\n"
        "for name in ('pgqueuer', 'procrastinate'):\n"
        "    try: print(name, m.version(name))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return dict(line.split() for line in done.stdout.splitlines() if line.strip())


@dataclass(frozen=True)
class Ours:
    loop: bool = False  # the worker loop (bot/worker/loop.py), else claim 1 + complete
    name: str = "ours"

    @property
    def label(self) -> str:
        return "ours, worker loop" if self.loop else "ours, claim 1 + complete"

    def url(self, target: str, runner: str = "bench") -> str:
        if target.startswith("sqlite"):
            return target
        base = pgserver.dsn(target).replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}?application_name={runner}"

    def _mode(self) -> list[str]:
        return ["--loop"] if self.loop else ["--claim", "1"]

    def _argv(self, command: str, target: str, *extra: str, runner: str = "bench") -> list[str]:
        script = ROOT / "bench" / "ours_driver.py"
        return [sys.executable, str(script), command, "--url", self.url(target, runner), *extra]

    def install(self, target: str) -> None:
        run_command(self._argv("install", target), "ours: migrations")

    def load(self, target: str, jobs: int, sleep: float = 0.0) -> None:
        run_command(
            self._argv("load", target, "--jobs", str(jobs), "--sleep", str(sleep)), "ours: load"
        )

    def drain_runner(self, target: str, name: str, concurrency: int) -> Runner:
        extra = ["--concurrency", str(concurrency), *self._mode(), "--drain"]
        return Runner(name, self._argv("run", target, "--name", name, *extra, runner=name))

    def pause_runner(self, target: str, name: str, sleep: float) -> Runner:
        extra = [
            *("--concurrency", str(PAUSE_SLOTS), *self._mode()),
            *("--lease", str(LEASE_SECONDS), "--heartbeat", str(HEARTBEAT_SECONDS)),
            *("--sleep", str(sleep), "--trace"),
        ]
        return Runner(name, self._argv("run", target, "--name", name, *extra, runner=name))

    done_query = "SELECT count(*) FROM jobs WHERE state = 'done'"
    audit_target = "jobs"
    audit = (
        "CREATE TABLE bench_audit (job text, app text, what text,"
        " at timestamptz DEFAULT clock_timestamp())",
        """CREATE FUNCTION bench_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
            INSERT INTO bench_audit (job, app, what)
            VALUES (NEW.id, current_setting('application_name'), NEW.state);
            RETURN NULL; END $$""",
        """CREATE TRIGGER bench_audit AFTER UPDATE OF state ON jobs FOR EACH ROW
            WHEN (NEW.state = 'done' AND OLD.state <> 'done')
            EXECUTE FUNCTION bench_audit_row()""",
    )


@dataclass(frozen=True)
class Peer:
    name: str  # "pgqueuer" | "procrastinate"

    @property
    def label(self) -> str:
        return f"{self.name} {PEER_PINS[self.name]}"

    def _mode(self) -> list[str]:
        return ["--loop"] if self.loop else ["--claim", "1"]

    def _argv(self, command: str, target: str, *extra: str, runner: str = "bench") -> list[str]:
        script = ROOT / "bench" / "peers" / f"{self.name}_driver.py"
        url = pgserver.dsn(target)
        return [str(peers_python()), str(script), command, "--dsn", url, "--name", runner, *extra]

    def install(self, target: str) -> None:
        run_command(self._argv("install", target), f"{self.name}: install")

    def load(self, target: str, jobs: int, sleep: float = 0.0) -> None:
        extra = ("--jobs", str(jobs), "--sleep", str(sleep))
        run_command(self._argv("load", target, *extra), f"{self.name}: load")

    def drain_runner(self, target: str, name: str, concurrency: int) -> Runner:
        size = ("--batch" if self.name == "pgqueuer" else "--concurrency", str(concurrency))
        return Runner(name, self._argv("run", target, *size, "--drain", runner=name))

    def pause_runner(self, target: str, name: str, sleep: float) -> Runner:
        if self.name == "pgqueuer":
            extra = [
                *("--batch", "1", "--max-tasks", str(PAUSE_SLOTS)),
                *("--heartbeat-timeout", str(LEASE_SECONDS), "--dequeue-timeout", "1"),
            ]
        else:
            extra = [
                *("--concurrency", str(PAUSE_SLOTS), "--stalled", str(LEASE_SECONDS)),
                *("--poll", "0.5"),
            ]
        extra += ["--sleep", str(sleep), "--trace"]
        return Runner(name, self._argv("run", target, *extra, runner=name))

    @property
    def done_query(self) -> str:
        if self.name == "pgqueuer":  # finished jobs leave the queue table for its log
            return "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"
        return "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"

    @property
    def audit(self) -> tuple[str, ...]:
        table = Ours.audit[0]
        if self.name == "pgqueuer":
            return (
                table,
                """CREATE FUNCTION bench_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                    INSERT INTO bench_audit (job, app, what)
                    VALUES (convert_from(OLD.payload, 'UTF8'),
                            current_setting('application_name'), 'deleted');
                    RETURN NULL; END $$""",
                """CREATE TRIGGER bench_audit AFTER DELETE ON pgqueuer FOR EACH ROW
                    EXECUTE FUNCTION bench_audit_row()""",
            )
        return (
            table,
            """CREATE FUNCTION bench_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                INSERT INTO bench_audit (job, app, what)
                VALUES (NEW.args ->> 'key', current_setting('application_name'),
                        NEW.status::text);
                RETURN NULL; END $$""",
            """CREATE TRIGGER bench_audit AFTER UPDATE OF status ON procrastinate_jobs
                FOR EACH ROW WHEN (NEW.status IN ('succeeded', 'failed')
                                   AND OLD.status IS DISTINCT FROM NEW.status)
                EXECUTE FUNCTION bench_audit_row()""",
        )


System = Ours | Peer
PGQUEUER = Peer("pgqueuer")
PROCRASTINATE = Peer("procrastinate")
