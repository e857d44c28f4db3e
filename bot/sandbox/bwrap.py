"""The bubblewrap command line: what an agent sees, and nothing more.

Inside the sandbox:

- ``/checkout`` is the work tree, read-write, and the working directory;
- ``/home/agent`` is ``HOME``: a folder of the attempt's scratch directory, read-write;
- ``/tmp`` and ``/dev/shm`` are private tmpfs mounts of a fixed size;
- ``/usr`` (with the ``/bin``, ``/lib``... links of a merged-/usr system) is read-only, and
  so are the few paths of ``/etc`` programs need (TLS roots, alternatives links) and the
  Python that Farcaster runs on (its prefix, its venv, the ``bot`` package), bound at their
  own paths so that built-in agents can run;
- ``/proc`` is the sandbox's own (a new PID namespace), ``/dev`` a minimal one.

Nothing else is mounted: not the worker's data folder, its SQLite file, its key file, its
``.env``, nor any other job's scratch. New PID, IPC, UTS and network namespaces always. A
non-root caller always gets a user namespace from bwrap (and ``--cap-drop ALL``); a root
caller gets none, because root's would map the agent to host uid 0: the agent is switched
to an unprivileged uid of its own instead (run.py), which is what makes file permissions and
``RLIMIT_NPROC`` hold. ``--die-with-parent``
and the PID namespace mean that when the launcher dies, every process of the sandbox dies,
including ``setsid`` and double-forked ones. ``--new-session`` stops terminal injection.

The environment of bwrap itself is the agent's environment (bwrap's pid 1 shows its own
``environ``), and no secret is ever put on its command line.

Network: ``none`` (the namespace has only ``lo``), ``host`` (unsafe: the host's network), or
a Unix socket bound in at :data:`PROXY_SOCKET` for the egress proxy (bot/sandbox/egress.py:
the forwarder in front of the agent gives it ``HTTPS_PROXY``...).
"""

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = "/checkout"
HOME = "/home/agent"
PROXY_SOCKET = "/run/farcaster/proxy.sock"
SHM_BYTES = 64 * 1024 * 1024
# Read-only, when they exist: TLS roots, and the links Debian's alternatives put in /usr.
ETC_PATHS = ("/etc/ssl", "/etc/ca-certificates", "/etc/alternatives", "/etc/ld.so.cache")
# A merged-/usr system links these into /usr; elsewhere they are real folders, bound read-only.
TOP_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class Network:
    """``none``, ``host``, or ``socket``: a Unix socket bound in, and variables to reach it."""

    kind: str = "none"
    socket: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def none(cls) -> "Network":
        return cls("none")

    @classmethod
    def host(cls) -> "Network":
        return cls("host")

    @classmethod
    def through_socket(cls, socket: Path, env: Mapping[str, str]) -> "Network":
        return cls("socket", socket, dict(env))


@dataclass(frozen=True)
class Layout:
    checkout: Path  # host folder bound at /checkout
    home: Path  # host folder bound at /home/agent
    read_only: tuple[Path, ...] = ()  # host paths bound read-only at their own path
    network: Network = field(default_factory=Network.none)
    tmp_bytes: int = 512 * 1024 * 1024


def python_paths() -> tuple[Path, ...]:
    """What the running Python needs to start inside: its prefixes and the ``bot`` package.

    Only these folders, read-only; the ``bot`` package is bound alone (not the source tree
    it sits in, which may hold a ``.env`` or a database).
    """
    import bot

    paths = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).parent}
    real = Path(os.path.realpath(sys.executable)).parent
    paths.add(real.parent if real.name == "bin" else real)
    paths.add(Path(bot.__file__).resolve().parent)
    return minimal_cover(paths)


def minimal_cover(paths: set[Path]) -> tuple[Path, ...]:
    """The paths that are not inside another one of them (a bind covers its subfolders)."""
    chosen: list[Path] = []
    for path in sorted({p.resolve() for p in paths if p.exists()}, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(c) for c in chosen):
            chosen.append(path)
    return tuple(sorted(chosen))


def _parents(paths: Sequence[str]) -> list[str]:
    """Every folder above ``paths``, outermost first: bwrap would make them mode 0700."""
    found: set[str] = set()
    for path in paths:
        for parent in Path(path).parents:
            if str(parent) != "/":
                found.add(str(parent))
    return sorted(found, key=lambda p: (p.count("/"), p))


def bwrap_argv(layout: Layout, *, bwrap: str = "bwrap") -> list[str]:
    """The bwrap options for ``layout``, ending with ``--`` (the agent's argv follows)."""
    argv = [
        bwrap,
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    if os.geteuid() != 0:
        argv += ["--cap-drop", "ALL"]
    if layout.network.kind != "host":
        argv.append("--unshare-net")
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in TOP_LINKS:
        top = Path("/") / name
        if top.is_symlink():
            argv += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            argv += ["--ro-bind", str(top), str(top)]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "01777", "--size", str(layout.tmp_bytes), "--tmpfs", "/tmp"]  # noqa: S108
    argv += ["--perms", "01777", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm"]  # noqa: S108
    read_only = [str(p) for p in layout.read_only]
    targets = [*read_only, *ETC_PATHS, CHECKOUT, HOME]
    socket = layout.network.socket if layout.network.kind == "socket" else None
    if socket is not None:
        targets.append(PROXY_SOCKET)
    for parent in _parents(targets):
        argv += ["--perms", "0755", "--dir", parent]
    for path in ETC_PATHS:
        argv += ["--ro-bind-try", path, path]
    for path in read_only:
        argv += ["--ro-bind", path, path]
    if socket is not None:
        argv += ["--ro-bind", str(socket), PROXY_SOCKET]
    argv += ["--bind", str(layout.checkout), CHECKOUT, "--bind", str(layout.home), HOME]
    # The root holds only mount points now: a write anywhere else is "Read-only file system".
    argv += ["--remount-ro", "/", "--chdir", CHECKOUT, "--"]
    return argv


def probe(bwrap: str = "bwrap") -> str | None:
    """None when bwrap can make a sandbox here; otherwise one sentence saying why not."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="farcaster-probe-") as folder:
        work, home = Path(folder) / "work", Path(folder) / "home"
        work.mkdir()
        home.mkdir()
        argv = bwrap_argv(Layout(work, home, tmp_bytes=1024 * 1024), bwrap=bwrap)
        try:
            done = subprocess.run(
                [*argv, "true"],
                env={"PATH": "/usr/bin:/bin"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except FileNotFoundError:
            return f"bubblewrap is not installed ({bwrap!r} was not found)"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not be started ({exc})"
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return f"bubblewrap cannot make a sandbox here ({said[-1] if said else done.returncode})"
    return None
