"""The sandbox on real processes (bwrap, no mock): what an agent sees, its limits, its end.

Each test runs a program through :meth:`bot.sandbox.run.Sandbox.run`, as the command
agents and the built-ins do, and checks the outcome and ``/proc`` afterwards.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bot.sandbox.bwrap import python_paths
from bot.sandbox.cgroups import AgentCgroups
from bot.sandbox.leftovers import end_leftovers, write_marker
from bot.sandbox.limits import MIB, Limits
from bot.sandbox.process import ProcessOutcome
from bot.sandbox.run import Sandbox, limit_reason

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sandbox_required")]

SECRET = "sandbox-test-secret-" + secrets.token_hex(8)
SMALL = Limits(
    cpu_seconds=2, memory_bytes=1024 * MIB, processes=32, file_bytes=8 * MIB,
    disk_bytes=16 * MIB, tmp_bytes=8 * MIB, output_bytes=2 * MIB,
)  # fmt: skip


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    for name in ("work", "home"):
        (tmp_path / name).mkdir()
    return tmp_path


def run(scratch: Path, argv: list[str], *, limits: Limits = SMALL, timeout: float = 20.0,
        stop: threading.Event | None = None) -> ProcessOutcome:  # fmt: skip
    return Sandbox(enabled=True).run(
        argv,
        checkout=scratch / "work",
        home=scratch / "home",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        limits=limits,
        timeout=timeout,
        stop=stop or threading.Event(),
        max_log_bytes=64 * 1024,
        kill_grace=0.5,
        read_only=python_paths(),
        marker_dir=scratch,
    )


def python(scratch: Path, code: str, **kwargs: object) -> ProcessOutcome:
    return run(scratch, [sys.executable, "-c", textwrap.dedent(code)], **kwargs)  # type: ignore[arg-type]


def processes_with(word: str) -> list[int]:
    """Pids on the host whose command line holds ``word``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if word.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_the_agent_sees_no_secret_of_its_parent_or_of_pid_1(scratch, monkeypatch):
    monkeypatch.setenv("FARCASTER_WEBHOOK_SECRET", SECRET)
    outcome = python(
        scratch,
        """
        import os
        for pid in [p for p in os.listdir('/proc') if p.isdigit()] + [str(os.getppid())]:
            try:
                print(pid, open(f'/proc/{pid}/environ').read())
            except OSError as exc:
                print(pid, exc)
        print(sorted(os.environ))
        """,
    )
    assert outcome.exit_code == 0, outcome.output
    assert SECRET not in outcome.output
    assert "FARCASTER" not in outcome.output


def test_nothing_but_the_checkout_home_tmp_and_system_folders_is_there(scratch):
    (scratch / "farcaster.db").write_text("the database")
    (scratch / "app-key.pem").write_text("the key")
    outcome = python(
        scratch,
        f"""
        import json, os
        print(json.dumps(os.listdir('/')))
        for path in {[str(scratch / "farcaster.db"), str(scratch / "app-key.pem")]!r}:
            print(path, os.path.exists(path))
        """,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "farcaster.db False" in outcome.output and "app-key.pem False" in outcome.output
    top = json.loads(outcome.output.splitlines()[0])
    # Beyond the system folders, only the tops of the read-only Python (its prefix, its venv,
    # the bot package) are there: /work here, /check or wherever else a clone lives.
    python_tops = {Path(path).parts[1] for path in python_paths()}
    system = {"bin", "checkout", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32",
              "proc", "sbin", "tmp", "usr", "opt"}  # fmt: skip
    assert set(top) <= system | python_tops


def test_a_write_outside_the_checkout_is_a_read_only_error(scratch):
    outcome = python(
        scratch,
        """
        for path in ('../escaped.txt', '/escaped.txt', '/usr/escaped.txt'):
            try:
                open(path, 'w')
            except OSError as exc:
                print(exc.strerror)
        open('inside.txt', 'w').write('fine')
        """,
    )
    assert outcome.output.splitlines() == ["Read-only file system"] * 3
    assert not (scratch / "escaped.txt").exists()
    assert (scratch / "work" / "inside.txt").read_text() == "fine"


def test_no_connection_leaves_the_sandbox(scratch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        outcome = python(
            scratch,
            f"""
            import socket
            for port in (5432, {port}):
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=2)
                    print('connected', port)
                except OSError as exc:
                    print('refused', port, exc.strerror)
            """,
        )
    assert "connected" not in outcome.output
    assert "refused 5432" in outcome.output and f"refused {port}" in outcome.output


def test_setsid_and_double_forked_children_end_with_the_run(scratch):
    word = f"1000.{secrets.randbelow(10**6)}"
    outcome = run(scratch, ["sh", "-c", f"setsid sleep {word} & (sleep {word} &) ; echo started"])
    assert outcome.exit_code == 0 and "started" in outcome.output
    assert processes_with(word) == []
    assert list(scratch.glob("agent-*.running")) == []  # the marker went with them


def test_a_timeout_kills_every_process_of_the_sandbox(scratch):
    word = f"1000.{secrets.randbelow(10**6)}"
    outcome = run(scratch, ["sh", "-c", f"setsid sleep {word} & sleep {word}"], timeout=1)
    assert outcome.timed_out
    assert processes_with(word) == []


def test_cpu_time_has_its_limit(scratch):
    outcome = python(scratch, "while True: pass", limits=SMALL.merged({"cpu_seconds": 1}))
    assert limit_reason(outcome) == "agent_cpu_limit"


def test_memory_has_its_limit(scratch):
    outcome = python(scratch, "block = bytearray(2 * 1024**3)")
    assert limit_reason(outcome) == "agent_memory_limit"


def test_a_fork_bomb_meets_the_process_limit(scratch):
    outcome = python(
        scratch,
        """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
        """,
    )
    assert limit_reason(outcome) == "agent_process_limit"
    assert outcome.seconds < 15


def test_a_big_file_meets_the_disk_limit(scratch):
    outcome = run(scratch, ["dd", "if=/dev/zero", "of=big", "bs=1M", "count=2048"])
    assert limit_reason(outcome) == "agent_disk_limit"


def test_many_files_meet_the_disk_limit(scratch):
    # Each file is under the file limit; together they pass the checkout's growth limit.
    outcome = python(
        scratch,
        """
        import time
        for n in range(40):
            open(f'part{n}', 'wb').write(b'x' * (1024 * 1024))
        time.sleep(5)
        """,
    )
    assert limit_reason(outcome) == "agent_disk_limit"


def test_a_full_tmp_is_the_disk_limit(scratch):
    outcome = run(scratch, ["dd", "if=/dev/zero", "of=/tmp/big", "bs=1M", "count=64"])
    assert limit_reason(outcome) == "agent_disk_limit"


def test_output_has_its_limit_and_its_true_size_is_counted(scratch):
    outcome = python(scratch, "import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert limit_reason(outcome) == "agent_output_limit"
    assert outcome.output_bytes > SMALL.output_bytes
    assert len(outcome.output) < outcome.output_bytes


def test_a_run_whose_worker_is_killed_leaves_nothing(scratch):
    """SIGKILL the process that runs the sandbox: --die-with-parent takes the agent along."""
    word = f"1000.{secrets.randbelow(10**6)}"
    script = textwrap.dedent(
        f"""
        import sys, threading
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        from tests.e2e.test_sandbox_processes import run
        run(Path({str(scratch)!r}), ['sh', '-c', 'setsid sleep {word} & sleep {word}'], timeout=600)
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while len(processes_with(word)) < 2:
            assert time.monotonic() < deadline, "the agent never started"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 5
        while processes_with(word) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(word) == []
    finally:
        worker.kill()


def test_a_restarted_worker_ends_what_a_marker_names(tmp_path):
    leftover = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    try:
        assert write_marker(tmp_path, leftover.pid, group=True) is not None
        assert end_leftovers(tmp_path) == [leftover.pid]
        assert leftover.wait(timeout=5) == -signal.SIGKILL
    finally:
        leftover.kill()


def test_a_marker_for_a_recycled_pid_is_ignored(tmp_path):
    (tmp_path / f"agent-{os.getpid()}.running").write_text(
        f'{{"pid": {os.getpid()}, "start": 1, "group": false}}'
    )
    assert end_leftovers(tmp_path) == []  # this process started later than tick 1


def test_with_a_cgroup_the_launcher_joins_it_and_memory_is_left_to_it(scratch, tmp_path):
    parent = tmp_path / "cgroup"  # laid out as cgroupfs; memory.max does nothing here
    parent.mkdir()
    sandbox = Sandbox(enabled=True, cgroups=AgentCgroups(parent))
    outcome = sandbox.run(
        ["sh", "-c", "grep 'Max address space' /proc/self/limits"],
        checkout=scratch / "work",
        home=scratch / "home",
        env={"PATH": "/usr/bin:/bin"},
        limits=SMALL,
        timeout=20,
        stop=threading.Event(),
        max_log_bytes=4096,
    )
    assert outcome.exit_code == 0, outcome.output
    assert "unlimited" in outcome.output  # no RLIMIT_AS: memory.max holds memory
    (run,) = parent.glob("agent-*")  # a real cgroup would be removed; a folder stays
    assert (run / "cgroup.procs").read_text().strip().isdigit()
    assert (run / "memory.max").read_text() == str(SMALL.memory_bytes)
