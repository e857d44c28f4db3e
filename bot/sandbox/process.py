"""Running an agent's program: bounded output, a deadline, a stop event, the whole group killed.

The program (usually bwrap, with the agent inside; see bot/sandbox) runs in its own session
(so in its own process group), with stdin closed and stdout and stderr merged into one pipe
that is read while it runs. It ends one of four ways: it exits; its deadline passes
(``timed_out``); the ``stop`` event is set because the runner lost its lease (``stopped``);
or a limit is hit (``killed_for`` holds its reason code): more output than
``output_limit`` bytes, or whatever ``watch`` (called every poll) reports. In the last three
cases the group gets SIGTERM, then SIGKILL after a grace period. In every case, whatever is
left of the group is killed when the program is done. A process that leaves the group on
purpose (``setsid``) escapes that; the sandbox's PID namespace is what ends it.

``output_bytes`` is the true size of everything the program wrote, however little is kept.
"""

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.05
KILL_GRACE_SECONDS = 2.0
DRAIN_SECONDS = 1.0
# Kept beyond the log bound on each side so redaction sees a secret whole before bounding.
MARGIN_BYTES = 16 * 1024


class OutputBuffer:
    """The head and tail of a stream, with the count of what was dropped between them."""

    def __init__(self, limit: int) -> None:
        self.keep = limit + MARGIN_BYTES
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.keep:
                del self.tail[: len(self.tail) - self.keep]

    def text(self) -> str:
        tail = bytes(self.tail[-self.keep :])
        dropped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {dropped} bytes left out ...]\n" if dropped > 0 else ""
        return self.head.decode(errors="replace") + middle + tail.decode(errors="replace")


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int | None
    output: str  # bounded around the limit, NOT yet redacted
    timed_out: bool
    stopped: bool
    seconds: float
    output_bytes: int = 0  # everything it wrote, kept or not
    killed_for: str | None = None  # the reason code of the limit it was stopped for


# Called every poll while the program runs: a reason code stops it.
Watch = Callable[[], str | None]
# Called once the program started (e.g. to record its pid for a restarted worker).
OnStart = Callable[["subprocess.Popen[bytes]"], None]


def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    stop: threading.Event,
    max_output_bytes: int,
    kill_grace: float = KILL_GRACE_SECONDS,
    output_limit: int | None = None,
    watch: Watch | None = None,
    pass_fds: Sequence[int] = (),
    on_start: OnStart | None = None,
) -> ProcessOutcome:
    """Run ``argv`` (never through a shell) under the rules above."""
    started = time.monotonic()
    deadline = started + timeout
    buffer = OutputBuffer(max_output_bytes)
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    assert proc.stdout is not None
    if on_start is not None:
        on_start(proc)
    killed_for: str | None = None
    with selectors.DefaultSelector() as selector:
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
        timed_out = stopped = False
        open_pipe = True
        while proc.poll() is None:
            if stop.is_set():
                stopped = True
                break
            if time.monotonic() > deadline:
                timed_out = True
                break
            if output_limit is not None and buffer.total > output_limit:
                killed_for = "agent_output_limit"
                break
            killed_for = watch() if watch is not None else None
            if killed_for is not None:
                break
            if open_pipe:
                open_pipe = _read_ready(selector, fd, buffer, POLL_SECONDS)
            else:
                _wait_quietly(proc, POLL_SECONDS)
        if timed_out or stopped or killed_for:
            _terminate_group(proc, kill_grace)
        exit_code = proc.wait()
        _kill_group(proc.pid)
        drain_until = time.monotonic() + DRAIN_SECONDS
        while open_pipe and time.monotonic() < drain_until:
            open_pipe = _read_ready(selector, fd, buffer, POLL_SECONDS)
    proc.stdout.close()
    return ProcessOutcome(
        exit_code=None if (timed_out or stopped or killed_for) else exit_code,
        output=buffer.text(),
        timed_out=timed_out,
        stopped=stopped,
        seconds=time.monotonic() - started,
        output_bytes=buffer.total,
        killed_for=killed_for,
    )


def _read_ready(
    selector: selectors.BaseSelector, fd: int, buffer: OutputBuffer, wait: float
) -> bool:
    """Read what the pipe has; False once it is closed."""
    if not selector.select(wait):
        return True
    try:
        chunk = os.read(fd, 65536)
    except BlockingIOError:
        return True
    if not chunk:
        selector.unregister(fd)
        return False
    buffer.add(chunk)
    return True


def _wait_quietly(proc: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)


def _terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)


def _kill_group(pgid: int) -> None:
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # The group id stays reserved while any member lives, so this cannot hit a stranger.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
