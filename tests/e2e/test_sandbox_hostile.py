"""Hostile agents against a whole Farcaster (emulator, `serve --workers 2`, real bwrap).

Each agent tries one thing the sandbox must stop, and its job must end with the precise
reason and nothing published. An agent that finds nothing changes nothing (``empty_diff``);
one that got through would write what it found, and its job would open a pull request.
One World serves the module's tests.
"""

import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.core.records import JobState
from bot.emulator.world import SAMPLE_REPO, WEBHOOK_SECRET, World, wait_until
from bot.sandbox.leftovers import write_marker
from tests.conftest import require_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WORD = f"1000.{secrets.randbelow(10**6)}"  # the orphans' `sleep` argument, found in /proc

SNOOP = """
import os, sys
seen = []
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + [str(os.getppid()), '1']:
    try:
        seen.append(open(f'/proc/{pid}/environ', 'rb').read().decode(errors='replace'))
    except OSError:
        pass
for path in sys.argv[1:]:
    try:
        seen.append(open(path, errors='replace').read())
    except OSError:
        pass
found = [text for text in seen if 'FARCASTER' in text or 'PRIVATE KEY' in text or 'SQLite' in text]
if found:
    open('found.txt', 'w').write(str(found))
"""
PROBE = """
import socket, sys
for port in sys.argv[1:]:
    try:
        socket.create_connection(('127.0.0.1', int(port)), timeout=2)
        open(f'connected-{port}.txt', 'w').write('yes')
    except OSError as exc:
        print(port, exc)
"""
FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""


def agents_toml(box: World, listening_port: int) -> str:
    db = box.database_url.removeprefix("sqlite:///")
    ports = [str(p) for p in (5432, listening_port, box.server_port)]
    agents = {
        "snoop": [sys.executable, "-c", SNOOP, str(box.key_path), db, str(box.root / ".env")],
        "probe": [sys.executable, "-c", PROBE, *ports],
        "orphan": ["sh", "-c", f"setsid sleep {WORD} & (sleep {WORD} &); echo left them"],
        "forkbomb": [sys.executable, "-c", FORK_BOMB],
        "bigwrite": ["dd", "if=/dev/zero", "of=big.bin", "bs=1M", "count=2048"],
        "spin": [sys.executable, "-c", "while True: pass"],
        "spew": [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 65536)"],
    }
    limits = {
        "forkbomb": "processes = 32",
        "bigwrite": "file_bytes = 8388608\ndisk_bytes = 16777216",
        "spin": "cpu_seconds = 1",
        "spew": "output_bytes = 1048576",
    }
    lines = []
    for name, argv in agents.items():
        # A JSON array of strings is a TOML array of basic strings.
        lines += [f"[agents.{name}]", f"argv = {json.dumps(argv)}", "timeout = 60", ""]
        if name in limits:
            lines += [f"[agents.{name}.limits]", limits[name], ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, listener: socket.socket) -> Iterator[World]:
    require_sandbox()
    root = tmp_path_factory.mktemp("hostile")
    sample = root / "sample"
    shutil.copytree(SAMPLE_REPO, sample)
    # A line on which Python's re backtracks for ages with (\w|\w\w)*QQQ; (RE2 does not).
    (sample / "long_words.txt").write_text("a" * 5000 + "\n")
    world = World.start(root / "world", lease_seconds=5.0, sample=sample, sandbox=True)
    try:
        agents = root / "agents.toml"
        agents.write_text(agents_toml(world, listener.getsockname()[1]))
        (world.root / ".env").write_text(f"FARCASTER_WEBHOOK_SECRET={WEBHOOK_SECRET}\n")
        world.start_server(workers=2, env={"FARCASTER_AGENTS_FILE": str(agents)})
        yield world
    finally:
        world.close()


class Healthz:
    """Polls /healthz every 100 ms in a thread; the slowest answer is kept."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.slowest = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.done.wait(0.1):
            started = time.monotonic()
            try:
                ok = httpx.get(self.url, timeout=5).status_code == 200
            except httpx.HTTPError:
                ok = False
            self.slowest = max(self.slowest, time.monotonic() - started if ok else 99.0)

    def __enter__(self) -> "Healthz":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def tombstone_reason(box: World, body: str) -> str:
    before = {job.id for job in box.jobs()}
    number = box.open_issue(body[:40])
    box.comment(number, body)
    (job,) = [job for job in box.jobs() if job.id not in before]
    job = box.wait_for_state(job.id, JobState.TOMBSTONED, JobState.DONE, timeout=120)
    assert job.state is JobState.TOMBSTONED, job.last_error
    tombstone = box.store.tombstone(job.id)
    assert tombstone is not None
    return tombstone.reason_code


def status_of(pid: int) -> dict[str, str]:
    """The process's ``/proc/PID/status`` fields and its ``wchan`` (where it sleeps in the
    kernel); empty once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return {}
    fields = {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}
    return {**fields, "wchan": wchan}


def describe(pids: list[int]) -> str:
    """Each process's state and parent, to tell a survivor from a zombie in a failure."""
    lines = []
    for pid in pids:
        status = status_of(pid)
        if status:
            keep = [f"{key}: {status[key]}" for key in ("Name", "State", "PPid")]
            lines.append(f"{pid}: " + ", ".join(keep))
    return "\n".join(lines)


def agent_running(pids: list[int]) -> bool:
    """Whether the sandbox is up: the agent's two sleeps run, and the sandbox's pid 1 waits
    for its children.

    Only then has pid 1 bound itself to its launcher (bwrap's ``--die-with-parent`` takes
    hold in pid 1 after the mounts, right before it waits); a launcher killed earlier leaves
    pid 1 to finish starting (containers/bubblewrap#633), which the marker of
    bot/sandbox/leftovers.py covers at the next start, not this test.
    """
    seen = [status_of(pid) for pid in pids]
    sleeps = [s for s in seen if s.get("Name") == "sleep"]
    init = [
        s for s in seen if s.get("Name") == "bwrap" and s.get("NSpid", "").split()[-1:] == ["1"]
    ]
    return len(sleeps) == 2 and len(init) == 1 and init[0]["wchan"] == "do_wait"


def processes_with(word: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if word.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_an_agent_sees_no_secret_no_key_file_no_database_and_no_env_file(box):
    assert tombstone_reason(box, "/farcaster run snoop look around") == "empty_diff"


def test_no_connection_leaves_the_sandbox(box):
    assert tombstone_reason(box, "/farcaster run probe call home") == "empty_diff"


def test_setsid_and_double_forked_children_do_not_outlive_the_attempt(box):
    assert tombstone_reason(box, "/farcaster run orphan hide") == "empty_diff"
    assert processes_with(WORD) == []


@pytest.mark.parametrize(
    ("agent", "reason"),
    [
        ("forkbomb", "agent_process_limit"),
        ("bigwrite", "agent_disk_limit"),
        ("spin", "agent_cpu_limit"),
        ("spew", "agent_output_limit"),
    ],
)
def test_each_limit_ends_the_job_with_its_reason_and_the_server_stays_up(box, agent, reason):
    with Healthz(box.server_port) as health:
        assert tombstone_reason(box, f"/farcaster run {agent} go") == reason
    assert health.slowest < 1.0


def test_a_catastrophic_regex_leaves_the_server_answering_within_a_second(box):
    with Healthz(box.server_port) as health:
        reason = tombstone_reason(box, r"/farcaster replace '(\w|\w\w)*QQQ;' x --regex")
    assert reason == "empty_diff"  # RE2 finds no match, in linear time
    assert health.slowest < 1.0


def test_a_starting_worker_ends_what_a_dead_runner_left_running(box):
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname().replace("~", "-") or "host"
    scratch = box.root / "scratch" / f"farcaster-{host}~{dead.pid}~job-t1-left"
    scratch.mkdir(parents=True)
    leftover = subprocess.Popen(["sleep", WORD], start_new_session=True)
    try:
        assert write_marker(scratch, leftover.pid, group=True) is not None
        worker = box.start_worker("sweeper")
        assert leftover.wait(timeout=30) == -signal.SIGKILL
        wait_until(lambda: not scratch.exists(), timeout=10, what="the dead runner's scratch")
    finally:
        leftover.kill()
    box.stop_worker("sweeper")
    assert worker.returncode is not None


def test_nothing_was_published(box):
    assert box.state()["farcaster_branches"] == {}
    assert box.state()["pulls"]["total"] == 0


def test_a_killed_server_takes_its_agents_with_it(tmp_path):
    """serve --workers 1 SIGKILLed mid-run: --die-with-parent ends the agent and its orphans."""
    require_sandbox()
    word = f"1000.{secrets.randbelow(10**6)}"
    agents = tmp_path / "agents.toml"
    agents.write_text(
        f'[agents.stuck]\nargv = ["sh", "-c", "setsid sleep {word} & sleep {word}"]\n'
    )
    world = World.start(tmp_path / "world", lease_seconds=5.0, sandbox=True)
    try:
        world.start_server(workers=1, env={"FARCASTER_AGENTS_FILE": str(agents)})
        world.comment(world.open_issue(), "/farcaster run stuck wait")
        deadline = time.monotonic() + 60
        while not agent_running(processes_with(word)):
            assert time.monotonic() < deadline, world.log("server")
            time.sleep(0.05)
        world.kill(world.server)
        # The kernel ends them (PDEATHSIG, then the pid namespace); on a busy machine that
        # can take a while to be scheduled, so the bound is generous: the promise is "none left".
        deadline = time.monotonic() + 30
        while processes_with(word) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(word) == [], describe(processes_with(word))
    finally:
        world.close()
