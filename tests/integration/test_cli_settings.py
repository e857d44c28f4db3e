"""A missing or bad setting stops a command with one sentence naming it, not a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def farcaster(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FARCASTER_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("command", "env", "sentence"),
    [
        (["worker"], {}, "FARCASTER_GITHUB_APP_ID must be set"),
        (["worker"], {"FARCASTER_GITHUB_APP_ID": "7"}, "FARCASTER_GITHUB_PRIVATE_KEY or"),
        (
            ["serve"],
            {"FARCASTER_GITHUB_APP_ID": "7", "FARCASTER_GITHUB_PRIVATE_KEY_PATH": "/nope.pem"},
            "FARCASTER_GITHUB_PRIVATE_KEY_PATH points at /nope.pem, which cannot be read",
        ),
        (
            ["jobs", "list"],
            {"FARCASTER_LEASE_SECONDS": "soon"},
            "FARCASTER_LEASE_SECONDS is invalid",
        ),
    ],
)
def test_a_missing_setting_is_one_sentence_and_exit_2(
    tmp_path: Path, command: list[str], env: dict[str, str], sentence: str
) -> None:
    env = {"FARCASTER_DATABASE_URL": f"sqlite:///{tmp_path}/f.db", **env}
    result = farcaster(*command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
