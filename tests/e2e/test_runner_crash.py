"""A runner killed for real at each step, then a fresh runner: no work lost, none doubled.

The child is a real process (tests/e2e/runner_child.py) that dies with status 137 at the
fault point named by FARCASTER_FAULT. A fresh runner then acts as if the crashed
runner's lease had expired (an injected clock, not a sleep). Whatever the step, the job
ends with one proposal per attempt that reached ``store_proposal`` and a complete trail.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import respx

from bot.app.runtime import Runtime
from bot.core.faults import FAULT_EXIT_STATUS, RUNNER_POINTS
from bot.core.records import JobState, Phase
from bot.core.settings import Settings
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job, sweep_abandoned_scratch
from tests.runner_support import (
    API,
    github_factory,
    job_spec,
    mock_github,
    sample_repository,
    tarball,
)
from tests.worker_round import one_round

ROOT = Path(__file__).resolve().parents[2]
RENAME = {"name": "rename", "old": "net_price", "new": "price_before_tax"}
# Steps after which the scratch folder exists and nobody was left alive to remove it.
LEAVES_SCRATCH = ("after_snapshot", "after_agent")
# Every step on SQLite; on PostgreSQL the two shapes of recovery (reclaim, nothing to redo).
CASES = [("sqlite", point) for point in RUNNER_POINTS] + [
    ("postgres", "after_claim"),
    ("postgres", "after_proposal"),
]


def crash_child(point: str, archive: Path, sha: str, env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.runner_child", str(archive), sha],
        cwd=ROOT,
        env={**env, "FARCASTER_FAULT": point},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode


@pytest.mark.slow
@pytest.mark.parametrize(("db_url", "point"), CASES, indirect=["db_url"])
def test_a_runner_killed_at_any_step_loses_nothing_and_doubles_nothing(
    db_url, point, tmp_path, rsa_private_key_pem
):
    repository, sha = sample_repository(tmp_path / "origin")
    archive = tmp_path / "repo.tar.gz"
    archive.write_bytes(tarball(repository, sha))
    scratch = tmp_path / "scratch"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "FARCASTER_DATABASE_URL": db_url,
        "FARCASTER_GITHUB_API_URL": API,
        "FARCASTER_GITHUB_APP_ID": "1",
        "FARCASTER_GITHUB_PRIVATE_KEY": rsa_private_key_pem,
        "FARCASTER_SCRATCH_DIR": str(scratch),
    }
    settings = Settings(
        database_url=db_url,
        github_api_url=API,
        github_app_id=1,
        github_private_key=rsa_private_key_pem,
        scratch_dir=scratch,
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings, github=github_factory(settings))
    try:
        runtime.store.enqueue(job_spec(RENAME, sha=sha))

        assert crash_child(point, archive, sha, env) == FAULT_EXIT_STATUS
        crashed = runtime.store.get("job1")
        assert crashed.attempts == 0  # counted when its lease is found expired
        leftovers = list(scratch.iterdir()) if scratch.exists() else []
        assert bool(leftovers) is (point in LEAVES_SCRATCH)

        with respx.mock(assert_all_called=False) as router:
            mock_github(router, archive.read_bytes(), sha)
            fresh = WorkerLoop(
                runtime,
                worker_id="fresh",
                handlers={Phase.RUN: run_job},
                clock=lambda: time.time() + 2 * settings.lease_seconds,
            )
            claimed = one_round(fresh)

        job = runtime.store.get("job1")
        assert job.state is JobState.PROPOSED
        proposals = runtime.store.proposals("job1")
        assert len(proposals) == 1
        assert "+def price_before_tax(gross):" in proposals[0].diff
        trail = [e.kind for e in runtime.store.events("job1")]
        if point == "after_proposal":  # the proposal was committed before the crash
            assert claimed == 0
            assert proposals[0].attempt == 1
            assert trail == ["created", "claimed", "proposal_stored"]
        else:
            assert claimed == 1
            assert proposals[0].attempt == 2
            assert trail == ["created", "claimed", "lease_expired", "claimed", "proposal_stored"]
        assert sorted(sweep_abandoned_scratch(settings)) == sorted(leftovers)
        assert list(scratch.iterdir()) == []
    finally:
        runtime.close()
