"""Runner processes as the orchestrator sees them: start, go, trace, stop, result.

The wire format is described in bench/peers/protocol.py. Standard error goes to a file,
shown when a runner fails.
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_SECONDS = 60.0


class RunnerFailed(RuntimeError):
    pass


class Runner:
    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        # Kept open for the runner's lifetime, read when it fails.
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.ready = threading.Event()
        self.result: dict[str, Any] | None = None
        self.started: dict[str, float] = {}  # job key -> when its body started here
        self.finished: dict[str, float] = {}
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self._changed:
                if message.get("ready"):
                    self.ready.set()
                elif message.get("ev") == "start":
                    self.started[message["job"]] = message["t"]
                elif message.get("ev") == "finish":
                    self.finished[message["job"]] = message["t"]
                elif "result" in message:
                    self.result = message["result"]
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait for ``condition`` (evaluated under the runner's lock) or the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return condition()
                self._changed.wait(min(left, 0.2))
        return True

    def in_flight(self) -> set[str]:
        with self._changed:
            return set(self.started) - set(self.finished)

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for the runner to exit and return its result (killing it after ``timeout``)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RunnerFailed(f"{self.name} did not stop within {timeout:.0f} s") from None
        self._reader.join(timeout=5)
        if self.proc.returncode != 0 or self.result is None:
            raise RunnerFailed(f"{self.name} exited with {self.proc.returncode}:\n{self.errors()}")
        return self.result

    def errors(self, lines: int = 25) -> str:
        self.stderr.seek(0)
        return "\n".join(self.stderr.read().splitlines()[-lines:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_all(runners: Sequence[Runner], *, when_ready: Callable[[], object] | None = None) -> None:
    """Wait until every runner is ready, call ``when_ready``, then start them together."""
    for runner in runners:
        if not runner.wait_until(runner.ready.is_set, READY_TIMEOUT_SECONDS):
            raise RunnerFailed(f"{runner.name} never became ready:\n{runner.errors()}")
    if when_ready is not None:
        when_ready()
    for runner in runners:
        runner.go()


def run_command(argv: Sequence[str], what: str) -> None:
    done = subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RunnerFailed(f"{what} failed:\n{done.stderr[-3000:]}")
