"""How bench/claim.py talks to a runner process, whichever queue it drives.

Standard library only: the peer drivers import it from the peers' own virtual environment.

1. The runner connects and sets up, then prints ``{"ready": true}`` and reads one line from
   standard input: the start signal. Setup (imports, connections) is not timed.
2. With ``--trace`` it prints ``{"ev": "start"|"finish", "job": KEY, "t": ...}`` around every
   job body, so the orchestrator knows who ran what (the pause scenario).
3. At the end (queue drained, or SIGTERM) it prints ``{"result": {...}}`` with ``started``
   and ``finished`` (wall clock, seconds), the jobs its bodies ran and its CPU seconds.
"""

import json
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()
_cpu_at_start = 0.0


def emit(message: dict[str, Any]) -> None:
    with _lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def ready_and_wait() -> float:
    """Announce readiness, block until the start signal, return the start time."""
    global _cpu_at_start
    emit({"ready": True})
    sys.stdin.readline()
    _cpu_at_start = time.process_time()
    return time.time()


def trace(enabled: bool, event: str, job: str) -> None:
    if enabled:
        emit({"ev": event, "job": job, "t": time.time()})


def result(started: float, ran: int, **extra: Any) -> None:
    """The run's summary; ``cpu`` is this process's CPU seconds since the start signal."""
    cpu = time.process_time() - _cpu_at_start
    emit({"result": {"started": started, "finished": time.time(), "ran": ran, "cpu": cpu, **extra}})
