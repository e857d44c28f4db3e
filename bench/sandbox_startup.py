"""The sandbox's start-up cost per agent run, against a plain subprocess.

Runs the same command N times as a plain ``subprocess`` and N times through
:meth:`bot.sandbox.run.Sandbox.run` (bwrap namespaces and mounts, the uid switch when root,
prlimit, the watch), and prints the median and the 90th percentile of each, their
difference and their ratio. Goal: the sandbox adds under 50 ms per run.

    .venv/bin/python bench/sandbox_startup.py [--runs 30] [--command true|python]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bot.sandbox.bwrap import python_paths
from bot.sandbox.limits import Limits
from bot.sandbox.run import Sandbox

COMMANDS = {"true": ["true"], "python": [sys.executable, "-I", "-c", "pass"]}


def timed(run: "callable[[], object]", runs: int) -> list[float]:  # type: ignore[valid-type]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--command", choices=sorted(COMMANDS), default="true")
    args = parser.parse_args()
    argv = COMMANDS[args.command]
    with tempfile.TemporaryDirectory(prefix="farcaster-bench-") as folder:
        work, home = Path(folder) / "work", Path(folder) / "home"
        work.mkdir()
        home.mkdir()
        sandbox = Sandbox(enabled=True)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        stop = threading.Event()

        def plain() -> None:
            subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)

        def sandboxed() -> None:
            outcome = sandbox.run(
                argv, checkout=work, home=home, env=env, limits=Limits(), timeout=60,
                stop=stop, max_log_bytes=4096, read_only=python_paths(),
            )  # fmt: skip
            assert outcome.exit_code == 0, outcome.output

        plain()
        sandboxed()  # warm both up once
        base, boxed = timed(plain, args.runs), timed(sandboxed, args.runs)
    for name, times in (("plain subprocess", base), ("sandboxed", boxed)):
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{name:18} median {statistics.median(times):7.1f} ms   p90 {p90:7.1f} ms")
    added = statistics.median(boxed) - statistics.median(base)
    ratio = statistics.median(boxed) / statistics.median(base)
    verdict = "under" if added < 50 else "OVER"
    print(f"added by the sandbox: {added:.1f} ms per run ({ratio:.1f}x), {verdict} the 50 ms goal")


if __name__ == "__main__":
    main()
