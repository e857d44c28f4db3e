"""Running one agent program in the sandbox, under its limits, and saying how it ended.

:meth:`Sandbox.run` builds the command line (bwrap.py for the namespaces and mounts,
limits.py for the rlimits), gives a root worker's agent an unprivileged uid of its own
(uids.py; the checkout and HOME are handed to that uid first), puts it in a cgroup of its
own where cgroup v2 allows (cgroups.py: memory and processes), records a marker for a
restarted worker (leftovers.py), and runs it with process.py, which bounds time
and output and kills the process group at the end. While it runs, a watch measures the
checkout's growth and counts the sandbox's processes.

:func:`limit_reason` says which limit ended a run, as a reason code, from what the watch
saw, the exit status (SIGXCPU, SIGXFSZ) and the last lines of output (``MemoryError``,
``No space left on device``, ``Cannot fork``).

``Sandbox(enabled=False)`` (``FARCASTER_SANDBOX=off``, development only) runs the program
as a plain child process in the checkout, with the same rlimits, output bound and timeout,
but sees the whole machine and keeps the worker's uid.
"""

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.sandbox.bwrap import HOME, Layout, Network, bwrap_argv
from bot.sandbox.cgroups import AgentCgroups
from bot.sandbox.leftovers import start_time, write_marker
from bot.sandbox.limits import Limits, rlimit_argv
from bot.sandbox.process import ProcessOutcome, run_bounded
from bot.sandbox.uids import hold_uid

DISK_CHECK_SECONDS = 0.5
PROCESS_CHECK_SECONDS = 0.2
# Last bytes of output searched for the words a failed allocation, write or fork prints.
TAIL_BYTES = 4096
_MEMORY_WORDS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_DISK_WORDS = ("No space left on device", "File too large", "Disk quota exceeded")
_FORK_WORDS = ("Cannot fork", "fork: retry", "Resource temporarily unavailable")


@dataclass(frozen=True)
class Sandbox:
    """How this worker runs agents: in bubblewrap (``enabled``) or, for development, not."""

    enabled: bool = False
    bwrap: str = "bwrap"
    uid_base: int = 1_500_000
    uid_count: int = 1_000
    lock_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "farcaster-sandbox-uids"
    )
    cgroups: AgentCgroups | None = None  # cgroup v2 limits, where the worker could set them up

    def run(
        self,
        argv: Sequence[str],
        *,
        checkout: Path,
        home: Path,
        env: Mapping[str, str],
        limits: Limits,
        timeout: float,
        stop: threading.Event,
        max_log_bytes: int,
        kill_grace: float = 2.0,
        network: Network | None = None,
        read_only: Sequence[Path] = (),
        marker_dir: Path | None = None,
    ) -> ProcessOutcome:
        """Run ``argv`` in the checkout; see the module docstring."""
        if not self.enabled:
            return self._run_plain(
                argv,
                checkout,
                home,
                env,
                limits,
                timeout,
                stop,
                max_log_bytes,
                kill_grace,
                marker_dir,
            )
        layout = Layout(
            checkout, home, tuple(read_only), network or Network.none(), limits.tmp_bytes
        )
        inner_env = {**env, "HOME": HOME, **layout.network.env}
        with contextlib.ExitStack() as stack:
            uid = None
            if os.geteuid() == 0:
                start = threading.get_ident() % self.uid_count
                uid = stack.enter_context(
                    hold_uid(self.lock_dir, self.uid_base, self.uid_count, start=start)
                )
                hand_over([checkout, home], uid)
            become = _setpriv(uid) if uid is not None else []
            cgroup = (
                stack.enter_context(self.cgroups.for_run(limits))
                if self.cgroups is not None
                else None
            )
            status_r, status_w = os.pipe()
            stack.callback(_close, status_r)
            full = [
                *(cgroup.join_argv() if cgroup is not None else []),
                *bwrap_argv(layout, bwrap=self.bwrap)[:-1],
                "--json-status-fd",
                str(status_w),
                "--",
                *become,
                *rlimit_argv(limits, nproc=uid is not None, memory=cgroup is None),
                *argv,
            ]
            watch = _Watch(limits, [checkout, home], status_r, marker_dir)
            try:
                outcome = run_bounded(
                    full,
                    cwd=checkout,
                    env=inner_env,
                    timeout=timeout,
                    stop=stop,
                    max_output_bytes=max_log_bytes,
                    kill_grace=kill_grace,
                    output_limit=limits.output_bytes,
                    watch=watch,
                    pass_fds=(status_w,),
                    on_start=lambda _proc: _close(status_w),
                )
            finally:
                _close(status_w)
                watch.end()
            hit = cgroup.limit_hit() if cgroup is not None else None
            if hit is not None and outcome.killed_for is None and outcome.exit_code != 0:
                # The kernel's own count says which limit it was: no guessing from output.
                outcome = dataclasses.replace(outcome, killed_for=hit, exit_code=None)
            return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    def _run_plain(
        self,
        argv: Sequence[str],
        checkout: Path,
        home: Path,
        env: Mapping[str, str],
        limits: Limits,
        timeout: float,
        stop: threading.Event,
        max_log_bytes: int,
        kill_grace: float,
        marker_dir: Path | None,
    ) -> ProcessOutcome:
        markers: list[Path] = []

        def record(proc: "subprocess.Popen[bytes]") -> None:
            if marker_dir is not None:
                marker = write_marker(marker_dir, proc.pid, group=True)
                markers.extend([marker] if marker else [])

        try:
            return run_bounded(
                [*rlimit_argv(limits, nproc=False), *argv],
                cwd=checkout,
                env={**env, "HOME": str(home)},
                timeout=timeout,
                stop=stop,
                max_output_bytes=max_log_bytes,
                kill_grace=kill_grace,
                output_limit=limits.output_bytes,
                watch=_Watch(limits, [checkout, home], None),
                on_start=record,
            )
        finally:
            for marker in markers:
                marker.unlink(missing_ok=True)


def _setpriv(uid: int) -> list[str]:
    """Drop from root (with every capability) to ``uid``, for good, before the agent runs."""
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
    ]


def hand_over(folders: Sequence[Path], uid: int) -> None:
    """Make ``folders`` (and everything in them, links not followed) belong to ``uid``."""
    for folder in folders:
        os.lchown(folder, uid, uid)
        for parent, dirs, files in os.walk(folder):
            for name in (*dirs, *files):
                os.lchown(os.path.join(parent, name), uid, uid)


def tree_bytes(folders: Sequence[Path]) -> int:
    """The bytes of the regular files under ``folders`` (links not followed)."""
    total = 0
    for folder in folders:
        for parent, _dirs, files in os.walk(folder):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(parent, name)).st_size
    return total


class _Watch:
    """Called every poll: the checkout's growth and the sandbox's process count."""

    def __init__(
        self,
        limits: Limits,
        folders: Sequence[Path],
        status_fd: int | None,
        marker_dir: Path | None = None,
    ) -> None:
        self.limits = limits
        self.marker_dir = marker_dir
        self.folders = folders
        self.allowed = tree_bytes(folders) + limits.disk_bytes
        self.status_fd = status_fd
        self.status = b""
        self.namespace: int | None = None
        self.sandbox_pid: int | None = None
        self.sandbox_start: int | None = None
        self.marker: Path | None = None
        # The first checks wait a little: a run that ends at once pays for none of them
        # (rlimits hold the limits meanwhile).
        started = time.monotonic()
        self.next_disk = started + DISK_CHECK_SECONDS
        self.next_count = started + PROCESS_CHECK_SECONDS
        self.peak_processes = 0

    def __call__(self) -> str | None:
        now = time.monotonic()
        if self.status_fd is not None and self.namespace is None:
            self._read_status()
        if now >= self.next_disk:
            self.next_disk = now + DISK_CHECK_SECONDS
            if tree_bytes(self.folders) > self.allowed:
                return "agent_disk_limit"
        if self.namespace is not None and now >= self.next_count:
            self.next_count = now + PROCESS_CHECK_SECONDS
            # The sandbox's pid 1 (bwrap's reaper) is not the agent's.
            count = processes_in_namespace(self.namespace) - 1
            self.peak_processes = max(self.peak_processes, count)
            if count >= self.limits.processes:
                return "agent_process_limit"
        return None

    def _read_status(self) -> None:
        assert self.status_fd is not None
        os.set_blocking(self.status_fd, False)
        with contextlib.suppress(BlockingIOError):
            self.status += os.read(self.status_fd, 4096)
        line, found, _ = self.status.partition(b"\n")
        if not found:
            return
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(line)
            self.sandbox_pid = int(data["child-pid"])
            self.namespace = int(data["pid-namespace"])
            self.sandbox_start = start_time(self.sandbox_pid)
            if self.marker_dir is not None:
                self.marker = write_marker(self.marker_dir, self.sandbox_pid, group=False)

    def end(self) -> None:
        """After the run: make sure the namespace is gone, then drop the marker."""
        if self.sandbox_pid is not None:
            _kill_quietly(self.sandbox_pid, self.sandbox_start)
        if self.marker is not None:
            self.marker.unlink(missing_ok=True)


def processes_in_namespace(inode: int) -> int:
    """How many host processes live in the PID namespace ``inode``."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry.name}/ns/pid").st_ino == inode:
                    count += 1
    return count


def _kill_quietly(pid: int, started: int | None) -> None:
    """SIGKILL the sandbox's pid 1 if it is still the same process: that ends its namespace."""
    if started is not None and start_time(pid) == started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


# What the launchers in front of the agent's program print when they cannot start it.
_LAUNCH_ERRORS = (
    "prlimit: failed to execute ",
    "bwrap: execvp ",
    "setpriv: failed to execute ",
    "forwarder: failed to execute ",  # bot/sandbox/forwarder.py, before an allowlisted agent
)


def start_failure(outcome: ProcessOutcome) -> str | None:
    """Why the agent's program could not be started at all (not found, not executable)."""
    if outcome.exit_code not in (1, 126, 127):
        return None
    first = outcome.output.lstrip().partition("\n")[0]
    for prefix in _LAUNCH_ERRORS:
        if first.startswith(prefix):
            return first[len(prefix) :].strip()
    return None


def limit_reason(outcome: ProcessOutcome) -> str | None:
    """The reason code of the limit that ended ``outcome``, or None if none did."""
    if outcome.killed_for is not None:
        return outcome.killed_for
    code = outcome.exit_code
    if code is None or code == 0:
        return None
    if code in (128 + signal.SIGXCPU, -signal.SIGXCPU):
        return "agent_cpu_limit"
    if code in (128 + signal.SIGXFSZ, -signal.SIGXFSZ):
        return "agent_disk_limit"
    tail = outcome.output[-TAIL_BYTES:]
    if any(word in tail for word in _DISK_WORDS):
        return "agent_disk_limit"
    if any(word in tail for word in _MEMORY_WORDS):
        return "agent_memory_limit"
    if any(word in tail for word in _FORK_WORDS):
        return "agent_process_limit"
    return None
