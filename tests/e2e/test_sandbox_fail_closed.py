"""Fail closed: no usable bwrap, no runner; only an explicit FARCASTER_SANDBOX=off runs one."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store.migrate import upgrade

pytestmark = pytest.mark.e2e


def farcaster_env(tmp_path: Path, rsa_private_key_pem: str, **extra: str) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'farcaster.db'}"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FARCASTER_")}
    env.update(
        FARCASTER_DATABASE_URL=url,
        FARCASTER_GITHUB_APP_ID="1",
        FARCASTER_GITHUB_PRIVATE_KEY=rsa_private_key_pem,
        FARCASTER_WEBHOOK_SECRET="fail-closed-secret",
        FARCASTER_SCRATCH_DIR=str(tmp_path / "scratch"),
        **extra,
    )
    return env


@pytest.mark.parametrize("args", [["worker"], ["serve", "--port", "0", "--workers", "1"]])
def test_a_runner_without_a_usable_bwrap_refuses_to_start_with_one_sentence(
    tmp_path, rsa_private_key_pem, args
):
    env = farcaster_env(
        tmp_path, rsa_private_key_pem, FARCASTER_SANDBOX_BWRAP=str(tmp_path / "no-bwrap")
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "bubblewrap" in lines[0] and "FARCASTER_SANDBOX=off" in lines[0]


def test_sandbox_off_runs_a_worker_and_says_it_is_unsafe(tmp_path, rsa_private_key_pem):
    env = farcaster_env(
        tmp_path,
        rsa_private_key_pem,
        FARCASTER_SANDBOX="off",
        FARCASTER_SANDBOX_BWRAP=str(tmp_path / "no-bwrap"),
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", "worker"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "WITHOUT a sandbox" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
