"""Whether this process may run agents, and with which sandbox: fail closed.

A worker (``farcaster worker``, ``serve --workers N``) calls :func:`sandbox_for` before it
starts. With ``FARCASTER_SANDBOX=on`` (the default) bwrap must make a sandbox here, and
util-linux's ``prlimit`` (and, for a root worker, ``setpriv``) must exist, or the process
refuses to start with one sentence: it never falls back to running agents
unconfined. Only an explicit ``FARCASTER_SANDBOX=off`` runs agents without it, and the
worker logs a warning saying so.
"""

import logging
import os
import shutil

from bot.core.errors import ConfigurationError
from bot.core.settings import Settings
from bot.sandbox.bwrap import probe
from bot.sandbox.cgroups import delegate, delegated
from bot.sandbox.limits import Limits
from bot.sandbox.proxy import Allowlist, BadTarget
from bot.sandbox.run import Sandbox

log = logging.getLogger("farcaster.sandbox")

PACKAGE = "bubblewrap"
UNSAFE_WARNING = (
    "FARCASTER_SANDBOX=off: agents run WITHOUT a sandbox and can read this machine's files, "
    "secrets and network (development only)"
)


def configured_sandbox(settings: Settings) -> Sandbox:
    """The sandbox the settings ask for, without checking that it works."""
    return Sandbox(
        enabled=settings.sandbox == "on",
        bwrap=settings.sandbox_bwrap,
        uid_base=settings.sandbox_uid_base,
        uid_count=settings.sandbox_uid_count,
        cgroups=delegated(),
    )


def configured_limits(settings: Settings) -> Limits:
    return Limits(
        cpu_seconds=settings.agent_cpu_seconds,
        memory_bytes=settings.agent_memory_bytes,
        processes=settings.agent_max_processes,
        file_bytes=settings.agent_max_file_bytes,
        disk_bytes=settings.agent_disk_bytes,
        tmp_bytes=settings.agent_tmp_bytes,
        output_bytes=settings.agent_max_output_bytes,
    )


def sandbox_available(bwrap: str = "bwrap") -> bool:
    """Whether bwrap can make a sandbox on this machine (for the demo and test worlds)."""
    return probe(bwrap) is None and missing_tools() is None


def missing_tools() -> str | None:
    """util-linux's prlimit sets the limits; a root worker also needs setpriv to drop to the
    agent's uid. Without them the sandbox would run unlimited, or as root: refuse."""
    needed = ["prlimit", "setpriv"] if os.geteuid() == 0 else ["prlimit"]
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        return f"util-linux's {' and '.join(missing)} cannot be found on PATH"
    return None


def sandbox_for(settings: Settings) -> Sandbox:
    """The checked sandbox for a worker; ConfigurationError (one sentence) when unusable."""
    try:
        Allowlist(settings.verify_network)
    except BadTarget as exc:
        raise ConfigurationError(f"FARCASTER_VERIFY_NETWORK: {exc}.") from None
    sandbox = configured_sandbox(settings)
    if not sandbox.enabled:
        log.warning(UNSAFE_WARNING)
        return sandbox
    problem = probe(sandbox.bwrap) or missing_tools()
    if problem is not None:
        raise ConfigurationError(
            f"Refusing to run agents: {problem}; install the {PACKAGE} and util-linux packages "
            "(or set FARCASTER_SANDBOX=off on a development machine, which is unsafe)."
        )
    if delegate():
        log.info("agents get a cgroup v2 each (memory.max, pids.max)")
        return configured_sandbox(settings)
    return sandbox
