"""GitHub's budget per pull request: requests, time and memory for renames of 1 to 10,000 files.

    python bench/github_budget.py [--files 1,100,1000,10000] [--burst 50] [--skip-burst]

The production path: a World (the GitHub emulator, ``farcaster serve`` and one ``farcaster
worker`` as real processes, SQLite), a generated package whose function ``old_name`` is
defined in ``pkg/core.py`` and called by N - 1 other modules, and the comment
``/farcaster rename old_name new_name`` on an issue. The rename touches N files.

Per size, counted from the emulator's journal between the comment and the finished job
(its status comment included):

- requests: every API and codeload request, except minting the installation token and the
  feedback (the 👀 reaction, status comment posts and edits), which issue 12 counts apart,
  and serve's background polling of the App's webhook deliveries (no one PR's);
- content-creating: POST/PATCH/PUT/DELETE among them, tree chunks apart (``trees``);
- GET: the reads among them (intake's, the runner's tarball, the interpreter's);
- seconds from the comment to ``done``: the runner (claimed for RUN to proposal stored)
  and the interpreter (claimed for APPLY to done, waits for pacing included);
- the worker's peak RSS (VmHWM of the worker process);
- validation of the stored diff against the base files (parse, apply, checks) next to
  ``git apply --check`` of the same diff on a checkout: the ratio is ours / git's.

Validation alone (``--validation 10000``): issue 12's case, 10,000 files with 100,000
changed lines, validated in process next to ``git apply --check``, with its peak memory.

Burst: ``--burst`` jobs (50) on one installation, each a 1-file rename on its own issue,
run by ``--workers`` worker processes of ``--concurrency`` jobs each (2 x 2),
with the emulator enforcing GitHub's content-creation limit (80 a minute per installation;
the hourly 500 is raised out of the way) and Farcaster's default pacing (60 a minute, a
burst of 10). Printed: secondary-limit 403s (goal 0), content-creating requests and the
wall time from the first comment to the last job done.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.records import Job, JobState  # noqa: E402
from bot.emulator.world import World  # noqa: E402
from proposals.validation import BaseFile, Limits, read_diff, touched_paths, validate  # noqa: E402

COMMAND = "/farcaster rename old_name new_name"
CONTENT = {"POST", "PATCH", "PUT", "DELETE"}
FEEDBACK = re.compile(r"/reactions$|/issues/\d+/comments$|/issues/comments/\d+$")
TOKEN = re.compile(r"/app/installations/\d+/access_tokens$")
# The App's own background calls (serve polling its webhook deliveries): no one PR's.
APP_LEVEL = re.compile(r"^/api/v3/app/hook/")


def make_package(folder: Path, files: int) -> None:
    """``pkg/core.py`` defines ``old_name``; ``files - 1`` modules import and call it."""
    pkg = folder / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text("def old_name(x):\n    return x + 1\n")
    for i in range(files - 1):
        sub = pkg / f"m{i // 500}"
        if not sub.exists():
            sub.mkdir()
            (sub / "__init__.py").write_text("")
        (sub / f"mod{i}.py").write_text(
            f"from pkg.core import old_name\n\n\ndef use_{i}(value):\n"
            f"    total = value * {i}\n    return old_name(total)\n"
        )
    (folder / "README.md").write_text("A generated package for bench/github_budget.py.\n")


@dataclass
class Counts:
    requests: int = 0
    content: int = 0
    trees: int = 0
    gets: int = 0
    feedback: int = 0
    tokens: int = 0
    secondary_403: int = 0


def count(entries: list[dict[str, Any]]) -> Counts:
    counts = Counts()
    for entry in entries:
        method, path = entry["method"], entry["path"]
        if path.startswith("/_emulator") or APP_LEVEL.search(path):
            continue
        if entry["status"] == 403 and method in CONTENT:
            counts.secondary_403 += 1
        if TOKEN.search(path):
            counts.tokens += 1
        elif FEEDBACK.search(path):
            counts.feedback += 1
        elif method in CONTENT and path.endswith("/git/trees"):
            counts.trees += 1
        else:
            counts.requests += 1
            counts.content += method in CONTENT
            counts.gets += method == "GET"
    return counts


def phase_seconds(box: World, job: Job) -> tuple[float, float, float]:
    """(comment to done, runner, interpreter) from the job's trail."""
    events = box.store.events(job.id)
    created = events[0].at
    claims = [e for e in events if e.kind == "claimed"]
    stored = next(e.at for e in events if e.kind == "proposal_stored")
    run_claim = next(e.at for e in claims if e.at <= stored)
    apply_claim = next(e.at for e in claims if e.at > stored)
    done = next(e.at for e in reversed(events) if e.kind == "completed")
    return done - created, stored - run_claim, done - apply_claim


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def validation_ratio(folder: Path, diff: str) -> tuple[float, float]:
    """(seconds to validate the diff against the base files, seconds of git apply --check)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "checkout"
        subprocess.run(["cp", "-r", str(folder), str(work)], check=True)
        env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
        env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
            subprocess.run(["git", *args], cwd=work, env=env, check=True)
        data = diff.encode("utf-8", "surrogateescape")
        started = time.perf_counter()
        subprocess.run(["git", "apply", "--check"], cwd=work, input=data, check=True)
        git_seconds = time.perf_counter() - started
        started = time.perf_counter()
        parsed = read_diff(diff)
        files = {}
        for path in touched_paths(parsed):
            if (work / path).is_file():
                files[path] = BaseFile(path, "100644", (work / path).read_bytes())
        changes = validate(parsed, files, Limits(max_diff_bytes=10**9))
        ours = time.perf_counter() - started
        assert len(changes) == len(files)
    return ours, git_seconds


def issue_shaped_validation(root: Path, files: int) -> tuple[float, float, float, int]:
    """Issue 12's validation case without the rest: ``files`` modules of 60 lines, every
    sixth line renamed (10 changed lines a file, 100,000 at 10,000 files). Returns
    (diff MB, validate s, git apply --check s, peak traced bytes of validate)."""
    import tracemalloc

    folder = root / f"validation-{files}"
    (folder / "pkg").mkdir(parents=True)
    for i in range(files):
        body = "".join(
            f"    value_{k} = old_name({k}) + {i}\n" if k % 12 == 0 else f"    other_{k} = {k}\n"
            for k in range(60)
        )
        (folder / "pkg" / f"mod{i}.py").write_text(f"def f{i}():\n{body}    return 0\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True)
    base = {
        f"pkg/mod{i}.py": BaseFile(
            f"pkg/mod{i}.py", "100644", (folder / "pkg" / f"mod{i}.py").read_bytes()
        )
        for i in range(files)
    }
    for path in base:
        (folder / path).write_bytes(base[path].content.replace(b"old_name", b"new_name"))
    data = subprocess.run(["git", "diff"], cwd=folder, capture_output=True, check=True).stdout
    subprocess.run(["git", "checkout", "-q", "."], cwd=folder, check=True)
    started = time.perf_counter()
    subprocess.run(["git", "apply", "--check"], cwd=folder, input=data, check=True)
    git_seconds = time.perf_counter() - started
    diff = data.decode("utf-8", "surrogateescape")
    limits = Limits(max_diff_bytes=10**9)
    started = time.perf_counter()
    validate(read_diff(diff), base, limits)
    ours = time.perf_counter() - started
    tracemalloc.start()
    validate(read_diff(diff), base, limits)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return len(data) / 1e6, ours, git_seconds, peak


def one_size(root: Path, files: int) -> dict[str, Any]:
    folder = root / f"package-{files}"
    make_package(folder, files)
    box = World.start(root / f"world-{files}", sample=folder, lease_seconds=10.0)
    try:
        box.settings_env["FARCASTER_MAX_DIFF_BYTES"] = str(50_000_000)
        box.settings_env["FARCASTER_AGENT_TIMEOUT_SECONDS"] = "3600"  # the rename is timed
        box.start_server(workers=0)
        worker = box.start_worker("worker")
        number = box.open_issue(f"rename across {files} files")
        since = box.gh.journal_position()
        box.comment(number, COMMAND)
        (job,) = box.jobs()
        job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=3600)
        if job.state is not JobState.DONE:
            raise SystemExit(f"{files} files: the job ended {job.state}: {job.last_error}")
        box.wait_for_outbox()
        rss = peak_rss_mb(worker.pid)
        counts = count(box.gh.journal(since=since, limit=1_000_000))
        total, runner, interpreter = phase_seconds(box, job)
        proposal = box.store.latest_proposal(job.id)
        assert proposal is not None
        ours, git = validation_ratio(folder, proposal.diff)
    finally:
        box.close()
    return {
        "files": files,
        "counts": counts,
        "total": total,
        "runner": runner,
        "interpreter": interpreter,
        "rss": rss,
        "validate": ours,
        "git": git,
        "diff_mb": len(proposal.diff) / 1e6,
    }


def burst(root: Path, jobs: int, workers: int, concurrency: int) -> dict[str, Any]:
    folder = root / "package-burst"
    make_package(folder, 1)
    box = World.start(root / "world-burst", sample=folder, lease_seconds=10.0)
    try:
        box.gh.limit_content(per_minute=80, per_hour=1_000_000)
        box.start_server(workers=0)
        for n in range(workers):
            box.start_worker(f"worker-{n}", concurrency=concurrency)
        since = box.gh.journal_position()
        started = time.monotonic()
        issues = [box.open_issue(f"burst {i}") for i in range(jobs)]
        for number in issues:
            box.comment(number, COMMAND)
        ids = [j.id for j in box.jobs()]
        for job_id in ids:
            box.wait_for_state(job_id, JobState.DONE, JobState.TOMBSTONED, timeout=3600)
        wall = time.monotonic() - started
        box.wait_for_outbox(timeout=600)
        done = sum(box.store.get(i).state is JobState.DONE for i in ids)
        counts = count(box.gh.journal(since=since, limit=1_000_000))
        paced = sum(1 for i in ids for e in box.store.events(i) if e.kind == "paced")
    finally:
        box.close()
    return {"jobs": jobs, "done": done, "wall": wall, "counts": counts, "paced": paced}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", default="1,100,1000,10000")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--validation", type=int, default=10_000, help="0: skip that case")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the burst")
    parser.add_argument("--concurrency", type=int, default=2, help="jobs at once per worker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="github-budget-") as tmp:
        root = Path(tmp)
        print(
            "files | requests | content-creating | trees | GET | feedback | comment→done s "
            "| runner s | interpreter s | worker RSS MB | diff MB | validate s | git apply s "
            "| ratio"
        )
        for files in [int(f) for f in args.files.split(",") if f]:
            r = one_size(root, files)
            c = r["counts"]
            print(
                f"{files:,} | {c.requests} | {c.content} | {c.trees} | {c.gets} | {c.feedback} "
                f"| {r['total']:.1f} | {r['runner']:.1f} | {r['interpreter']:.1f} "
                f"| {r['rss']:.0f} | {r['diff_mb']:.1f} | {r['validate']:.2f} | {r['git']:.2f} "
                f"| {r['validate'] / r['git']:.1f}",
                flush=True,
            )
        if args.validation:
            mb, ours, git, peak = issue_shaped_validation(root, args.validation)
            print(
                f"validation alone, {args.validation:,} files, {mb:.1f} MB diff: {ours:.2f} s, "
                f"git apply --check {git:.2f} s, ratio {ours / git:.1f}; peak traced memory "
                f"{peak / 1e6:.0f} MB ({peak / 1e6 / mb:.1f}x the diff, the new contents "
                "included)",
                flush=True,
            )
        if not args.skip_burst:
            b = burst(root, args.burst, args.workers, args.concurrency)
            c = b["counts"]
            print(
                f"burst: {b['done']}/{b['jobs']} jobs done on one installation by "
                f"{args.workers} workers x {args.concurrency} in "
                f"{b['wall']:.0f} s; secondary-limit 403s: {c.secondary_403}; content-creating "
                f"requests {c.content + c.trees + c.feedback} (feedback {c.feedback}); "
                f"{b['paced']} paced waits"
            )


if __name__ == "__main__":
    main()
