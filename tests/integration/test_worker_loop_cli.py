"""`farcaster worker` as a real process: it starts, logs as asked, serves metrics, and stops
on SIGTERM."""

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# The command function itself, mounted the way bot/cli/main.py mounts it.
LAUNCH = "import typer; from bot.cli.commands.worker import worker; typer.run(worker)"


def read_until(proc, marker, within=60.0):
    """stderr lines until one contains ``marker`` (the worker logs to stderr)."""
    lines = []
    deadline = time.monotonic() + within
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(0.1):
                continue
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if marker in line:
                return lines
    raise AssertionError(f"no {marker!r} in the worker's log:\n{''.join(lines)}")


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_worker_stops_gracefully_on_sigterm(db_url, tmp_path, rsa_private_key_pem):
    scratch = tmp_path / "scratch"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "FARCASTER_DATABASE_URL": db_url,
        "FARCASTER_GITHUB_APP_ID": "1",
        "FARCASTER_GITHUB_PRIVATE_KEY": rsa_private_key_pem,
        "FARCASTER_SCRATCH_DIR": str(scratch),
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-c", LAUNCH, "--log-format", "json"),
            *("--worker-id", "cli-test", "--metrics-port", "0"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        started = read_until(proc, "worker cli-test started")
        port = next(
            int(json.loads(line)["message"].rsplit(" ", 1)[1])
            for line in started
            if "metrics on port" in line
        )
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "farcaster_agent_duration_seconds" in metrics
        proc.send_signal(signal.SIGTERM)
        stopped = read_until(proc, "worker cli-test stopped")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    records = [json.loads(line) for line in started + stopped if line.startswith("{")]
    assert {"level", "logger", "message"} <= set(records[-1])
    assert any("SIGTERM" in r["message"] for r in records)
    assert rsa_private_key_pem.splitlines()[1] not in "".join(started + stopped)
