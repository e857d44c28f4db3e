"""Resource limits of one agent run, and how each is enforced.

========================  =====================================  ==========================
limit                     enforced by                            reason code when hit
========================  =====================================  ==========================
``cpu_seconds``           ``RLIMIT_CPU`` (SIGXCPU at the soft     ``agent_cpu_limit``
                          limit, SIGKILL a second later)
``memory_bytes``          cgroup v2 ``memory.max`` where the      ``agent_memory_limit``
                          worker may set it (cgroups.py), else
                          ``RLIMIT_AS`` per process
``processes``             ``RLIMIT_NPROC`` (only under a uid of   ``agent_process_limit``
                          its own), cgroup v2 ``pids.max`` where
                          set, and a count of the sandbox's
                          processes taken while it runs
``file_bytes``            ``RLIMIT_FSIZE`` (largest file)         ``agent_disk_limit``
``disk_bytes``            growth of the checkout and HOME,        ``agent_disk_limit``
                          measured while it runs
``tmp_bytes``             size of the private ``/tmp`` tmpfs      ``agent_disk_limit``
``output_bytes``          stdout and stderr, counted as read      ``agent_output_limit``
========================  =====================================  ==========================

Wall-clock time stays the agent's ``timeout`` (``agent_timeout``). The rlimits are set by
util-linux ``prlimit`` inside the sandbox, right before the agent's program, never with a
``preexec_fn`` (not safe in a threaded worker). ``RLIMIT_NPROC`` counts every process of the
real uid on the host and is ignored for root, so it is set only when the run has a uid of
its own (see uids.py); otherwise the process count alone holds the limit.
"""

import shutil
from dataclasses import dataclass, replace
from typing import Any

MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 600
    memory_bytes: int = 4 * GIB
    processes: int = 1024  # threads count too (RLIMIT_NPROC): a JVM or a parallel build needs room
    file_bytes: int = 1 * GIB
    disk_bytes: int = 2 * GIB
    tmp_bytes: int = 512 * MIB
    output_bytes: int = 64 * MIB

    def merged(self, overrides: dict[str, Any]) -> "Limits":
        """These limits with the given fields replaced (``None`` values keep the default)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def rlimit_argv(limits: Limits, *, nproc: bool, memory: bool = True) -> list[str]:
    """``prlimit --cpu=... -- `` to put before the agent's argv; empty without prlimit."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return []
    cpu = limits.cpu_seconds
    argv = [
        prlimit,
        # soft < hard: SIGXCPU first (exit 152, which says "CPU"), SIGKILL one second later.
        f"--cpu={cpu}:{cpu + 1}",
        f"--fsize={limits.file_bytes}",
        "--core=0",
    ]
    if memory:  # False when a cgroup's memory.max holds it (cgroups.py)
        argv.append(f"--as={limits.memory_bytes}")
    if nproc:
        argv.append(f"--nproc={limits.processes}")
    return [*argv, "--"]
