"""Markers that let a restarted worker end what a dead one left running.

While an agent runs, its attempt's scratch folder holds a marker per sandbox: the host pid
of the sandbox's pid 1 (killing it ends the whole PID namespace) or, without a sandbox, of
the process-group leader, with that process's start time so that a recycled pid is never
hit. ``--die-with-parent`` normally ends a sandbox with its worker; the marker covers what
it cannot (a launcher killed while it starts, containers/bubblewrap#633, or a run without
the sandbox). The worker that starts next on the host calls :func:`end_leftovers` on the
scratch folders of dead workers before removing them.
"""

import contextlib
import json
import os
import signal
from pathlib import Path

MARKER_GLOB = "agent-*.running"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses; fields resume after ")".
    fields = stat.rpartition(")")[2].split()
    return int(fields[19])


def write_marker(folder: Path, pid: int, *, group: bool) -> Path | None:
    """Record ``pid`` (a sandbox's pid 1, or a group leader when ``group``) in ``folder``."""
    started = start_time(pid)
    if started is None:
        return None
    path = folder / f"agent-{pid}.running"
    path.write_text(json.dumps({"pid": pid, "start": started, "group": group}))
    return path


def end_leftovers(folder: Path) -> list[int]:
    """SIGKILL what the markers in ``folder`` name and is still the same process."""
    ended = []
    for marker in folder.glob(MARKER_GLOB):
        try:
            data = json.loads(marker.read_text())
            pid, started, group = int(data["pid"]), int(data["start"]), bool(data["group"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if start_time(pid) != started:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            ended.append(pid)
    return ended


def process_alive(pid: int) -> bool:
    """Whether a process with this pid lives on this host (one we may not signal lives)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
