"""Rename at scale: how the rename's time grows with the repository (issue 12, item 5).

For each size N/U it writes a package of N modules, U of which import the renamed function
and call it (the others never mention it), and takes the runner's own steps on it, as
``bot/worker/runner.py:run_job`` does, leaving out only the network and the database:

- **snapshot**: ``take_snapshot`` on a ``git archive`` tarball of the tree (what GitHub's
  tarball endpoint serves): unpack it and commit the base;
- **agent**: the registry's ``rename`` agent, which runs out of process in the bubblewrap
  sandbox (without it when bwrap is not usable here; the first line says which);
- **diff**: ``diff_against_base``.

The reference in the same run is ``git grep --no-index -l -F NAME`` over the same tree, the
byte search no rename can skip; "agent / ref" is the ratio. It prints wall and CPU seconds
(the machine's two cores are shared, so wall time depends on the load, which is printed
before and after), and the growth from the first size to the last (linear is the size
ratio: x4 from 5,000 to 20,000). A warm-up rename of 100 modules runs first.

    .venv/bin/python bench/rename_scale.py --scratch /dev/shm   # 5000/500 and 20000/2000
    .venv/bin/python bench/rename_scale.py --sizes 1000/100,4000/400
"""

import argparse
import os
import re
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.agents.base import AgentLimits, AgentRequest
from bot.agents.registry import builtin_agents
from bot.sandbox.run import Sandbox
from bot.sandbox.startup import sandbox_available
from bot.worker.checkout import diff_against_base, remove_tree, take_snapshot

OLD, NEW = "target_function", "renamed_function"
# As a worker runs built-in agents: out of process, in bubblewrap when it is usable here.
SANDBOX = Sandbox(enabled=sandbox_available())


def generate(root: Path, modules: int, users: int) -> None:
    """``pkg/core.py`` defines the function; every (modules // users)-th module uses it."""
    package = root / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A large package."""\n')
    (package / "core.py").write_text(f"def {OLD}(x):\n    return x + 1\n")
    step = max(1, modules // users)
    for i in range(modules):
        if i % step == 0:
            text = f"from pkg.core import {OLD}\n\n\ndef f{i}(x):\n    return {OLD}(x) * {i}\n"
        else:
            text = f"def f{i}(x):\n    return x * {i}\n"
        (package / f"mod_{i:05d}.py").write_text(text)


def time_git_grep(tree: Path) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(
        ["git", "grep", "--no-index", "-l", "-F", OLD],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, len(done.stdout.splitlines())


class ArchiveServer:
    """Answers ``download_tarball`` as GitHub does: the tree at one commit, as a .tar.gz."""

    def __init__(self, tree: Path, git_dir: Path) -> None:
        env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com"}
        env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.com")

        def git(*args: str) -> bytes:
            argv = ["git", f"--git-dir={git_dir}", f"--work-tree={tree}", "-c", "gc.auto=0"]
            return subprocess.run(
                [*argv, *args], cwd=tree, env=env, capture_output=True, check=True
            ).stdout

        git("init", "--quiet")
        git("add", "--all")
        git("commit", "--quiet", "-m", "base")
        self.sha = git("rev-parse", "HEAD").decode().strip()
        prefix = f"--prefix=acme-big-{self.sha[:7]}/"
        self.archive = git("archive", "--format=tar.gz", prefix, "HEAD")

    def download_tarball(self, owner: str, repo: str, sha: str) -> bytes:
        return self.archive


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (git), user and system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Steps:
    snapshot: float
    agent: float
    diff: float
    files_changed: int
    agent_cpu: float
    runner_cpu: float

    @property
    def runner(self) -> float:
        return self.snapshot + self.agent + self.diff


def time_runner(server: ArchiveServer, scratch: Path) -> Steps:
    """The runner's steps for one rename job, as ``bot/worker/runner.py:run_job`` takes them."""
    root = scratch / "attempt"
    root.mkdir()
    cpu_started = cpu_seconds()
    started = time.monotonic()
    snapshot = take_snapshot(server, "acme", "big", server.sha, root)  # type: ignore[arg-type]
    snapshotted = time.monotonic()
    home = root / "agent-home"
    home.mkdir()
    request = AgentRequest(
        checkout=snapshot.work,
        command={"name": "rename", "old": OLD, "new": NEW},
        limits=AgentLimits(timeout=600.0),
        stop=threading.Event(),
        home=home,
        sandbox=SANDBOX,
        marker_dir=root,
    )
    log = builtin_agents()["rename"].run(request).log
    # The agent runs in a child process (in the sandbox); it says its own CPU time.
    said = re.search(r"The rename took ([0-9.]+) CPU s", log)
    agent_cpu = float(said.group(1)) if said else float("nan")
    renamed = time.monotonic()
    diff = diff_against_base(snapshot)
    done = time.monotonic()
    runner_cpu = cpu_seconds() - cpu_started
    remove_tree(root)
    changed = diff.count(b"\ndiff --git ") + diff.startswith(b"diff --git ")
    return Steps(
        snapshotted - started, renamed - snapshotted, done - renamed, changed, agent_cpu, runner_cpu
    )


def measure(modules: int, users: int, scratch_dir: str | None) -> tuple[float, Steps]:
    with tempfile.TemporaryDirectory(prefix="rename-scale-", dir=scratch_dir) as folder:
        scratch = Path(folder)
        tree = scratch / "tree"
        generate(tree, modules, users)
        grep, found = time_git_grep(tree)
        if found != users + 1:
            raise SystemExit(f"git grep found {found} files, expected {users + 1}")
        steps = time_runner(ArchiveServer(tree, scratch / "origin.git"), scratch)
        if steps.files_changed != users + 1:
            raise SystemExit(f"the rename changed {steps.files_changed} files, not {users + 1}")
        return grep, steps


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5000/500,20000/2000", help="N/U pairs, comma-separated")
    parser.add_argument(
        "--scratch",
        default=None,
        help="where the trees and the runner's scratch go (as FARCASTER_SCRATCH_DIR; "
        "default: the system's temporary folder); /dev/shm keeps the disk out of the figures",
    )
    args = parser.parse_args()
    sizes = [(int(n), int(u)) for n, u in (pair.split("/") for pair in args.sizes.split(","))]

    where = "in the bubblewrap sandbox" if SANDBOX.enabled else "out of process, NO sandbox"
    print(f"agent: {where}; scratch: {args.scratch or tempfile.gettempdir()}")
    print(f"before: {load()}")
    measure(100, 10, args.scratch)  # warm-up: rope's lazy imports and caches, as in a busy worker
    rows = [(n, u, *measure(n, u, args.scratch)) for n, u in sizes]
    print(f"after:  {load()}")
    print()
    print(
        "wall seconds, CPU seconds in brackets: the agent's own (it says so in its log), and "
        "the runner's (the worker process and its git children; the sandboxed agent is not "
        "in it)"
    )
    print()
    print(
        "| modules / users | git grep -l (ref) | snapshot | agent | diff | runner | agent / ref |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, u, grep, st in rows:
        print(
            f"| {n:,} / {u:,} | {grep:.3f} | {st.snapshot:.2f} | {st.agent:.2f} "
            f"({st.agent_cpu:.2f}) | {st.diff:.2f} | {st.runner:.2f} ({st.runner_cpu:.2f}) "
            f"| {st.agent / grep:.0f}x |"
        )
    if len(rows) > 1:
        (n0, _, grep0, first), (n1, _, grep1, last) = rows[0], rows[-1]
        print()
        print(
            f"growth {n0:,} -> {n1:,} modules (x{n1 / n0:g}): git grep x{grep1 / grep0:.1f}, "
            f"agent x{last.agent / first.agent:.1f} "
            f"(CPU x{last.agent_cpu / first.agent_cpu:.1f}), "
            f"runner x{last.runner / first.runner:.1f} "
            f"(CPU x{last.runner_cpu / first.runner_cpu:.1f})"
        )


if __name__ == "__main__":
    main()
