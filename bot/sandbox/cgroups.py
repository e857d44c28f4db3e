"""Memory and process limits by cgroup v2, where the worker may manage its own cgroup.

Where ``/sys/fs/cgroup`` is cgroup v2 with the ``memory`` and ``pids`` controllers and the
worker's own cgroup (the ``0::`` line of ``/proc/self/cgroup``) is writable,
:func:`delegate` (called once, when a worker starts) moves the worker's process into a
leaf ``<own>/farcaster-worker`` (the "no internal processes" rule) and enables ``+memory
+pids`` for the children of its cgroup. Each sandboxed run then gets a cgroup of its own,
``<own>/agent-<random>``, with ``memory.max``, ``memory.swap.max = 0``, ``pids.max`` and
``memory.oom.group = 1``. The launcher joins it before it becomes bwrap
(``sh -c 'echo $$ > …/cgroup.procs && exec "$@"'``; never a ``preexec_fn`` in a threaded
worker), so every process of the sandbox is inside. Afterwards ``memory.events``
(``oom_kill``) and ``pids.events`` (``max``) say exactly which limit was hit, and the cgroup
is killed (``cgroup.kill``) and removed.

Anywhere else (cgroup v1, a read-only cgroupfs as in most containers, a non-root worker
without delegation) nothing here is used, and ``RLIMIT_AS`` holds the memory limit
(limits.py). Any failure of a cgroup step falls back the same way, with a log line.
"""

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.sandbox.limits import Limits

log = logging.getLogger("farcaster.sandbox")

MOUNT = Path("/sys/fs/cgroup")
WORKER_LEAF = "farcaster-worker"
RMDIR_TRIES = 50

_lock = threading.Lock()
_delegated: "AgentCgroups | None" = None


@dataclass(frozen=True)
class AgentCgroups:
    """The worker's own cgroup, whose children are the runs' cgroups."""

    parent: Path

    @contextlib.contextmanager
    def for_run(self, limits: Limits) -> Iterator["RunCgroup | None"]:
        """A fresh cgroup with ``limits`` for one run; None (RLIMIT_AS then) if it fails."""
        path = self.parent / f"agent-{secrets.token_hex(6)}"
        try:
            path.mkdir()
            _write(path / "memory.max", str(limits.memory_bytes))
            _write(path / "memory.swap.max", "0")
            _write(path / "memory.oom.group", "1")
            _write(path / "pids.max", str(limits.processes))
        except OSError as exc:
            log.warning("no cgroup for this run (%s); RLIMIT_AS limits its memory", exc)
            _remove(path)
            yield None
            return
        try:
            yield RunCgroup(path)
        finally:
            _remove(path)


@dataclass(frozen=True)
class RunCgroup:
    path: Path

    def join_argv(self) -> list[str]:
        """Put before the launcher's argv: it joins this cgroup, then becomes the launcher."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs")]

    def limit_hit(self) -> str | None:
        """``agent_memory_limit`` after an OOM kill, ``agent_process_limit`` after a refused
        fork, else None."""
        if _counter(self.path / "memory.events", "oom_kill") > 0:
            return "agent_memory_limit"
        if _counter(self.path / "pids.events", "max") > 0:
            return "agent_process_limit"
        return None


def delegated() -> AgentCgroups | None:
    """The cgroups :func:`delegate` set up in this process, if any."""
    return _delegated


def delegate(mount: Path = MOUNT, self_cgroup: Path = Path("/proc/self/cgroup")) -> bool:
    """Set up per-run cgroups for this process where cgroup v2 allows; whether it did."""
    global _delegated
    with _lock:
        if _delegated is not None:
            return True
        own = _own_cgroup(mount, self_cgroup)
        if own is None:
            return False
        try:
            leaf = own / WORKER_LEAF
            leaf.mkdir(exist_ok=True)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            _write(own / "cgroup.subtree_control", "+memory +pids")
        except OSError as exc:
            log.info("cgroup v2 at %s cannot be delegated (%s); RLIMIT_AS limits memory", own, exc)
            return False
        _delegated = AgentCgroups(own)
        return True


def _own_cgroup(mount: Path, self_cgroup: Path) -> Path | None:
    """This process's cgroup v2 folder, when v2 is mounted with memory and pids, writable."""
    try:
        controllers = (mount / "cgroup.controllers").read_text().split()
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return None
    if not {"memory", "pids"} <= set(controllers):
        return None
    relative = next((line[3:] for line in lines if line.startswith("0::")), None)
    if relative is None:
        return None
    own = mount / relative.lstrip("/")
    if not os.access(own / "cgroup.subtree_control", os.W_OK):
        return None
    return own


def _write(path: Path, value: str) -> None:
    with path.open("w") as out:
        out.write(value)


def _counter(path: Path, name: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    return 0


def _remove(path: Path) -> None:
    """Kill what is left in the run's cgroup and remove it (EBUSY for a moment after)."""
    if not path.is_dir():
        return
    with contextlib.suppress(OSError):
        _write(path / "cgroup.kill", "1")
    for _ in range(RMDIR_TRIES):
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.02)
    log.warning("the run's cgroup %s could not be removed", path)
