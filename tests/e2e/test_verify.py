"""The repository's own tests are the verdict, seen from GitHub's side (real processes).

The sample (tests/samples/verify_repo) has a test that looks `area` up by name, so renaming
`area` breaks it, and a test that already fails on the base."""

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.core.records import Job, JobState
from bot.emulator.world import World

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SAMPLE = Path(__file__).parents[1] / "samples" / "verify_repo"
PUBLIC_API = "tests.test_shapes::test_the_public_api_is_looked_up_by_name"
KNOWN_BUG = "tests.test_known_bug::test_scale_refuses_a_negative_factor"


def sample(tmp_path: Path, *, must_pass: bool) -> Path:
    folder = tmp_path / "sample"
    shutil.copytree(SAMPLE, folder)
    (folder / ".github" / "farcaster.yml").write_text(
        "verify:\n"
        f"  run: [{sys.executable!r}, '-m', 'pytest', '-q', '-p', 'no:cacheprovider']\n"
        "  timeout: 120\n"
        f"  must_pass: {'true' if must_pass else 'false'}\n"
        "  compare_with_base: true\n"
    )
    return folder


def check_run(box: World, job: Job, ref: str) -> dict[str, Any]:
    runs = box.github_client().list_check_runs(box.owner, box.repo, ref, name="farcaster")
    (run,) = [r for r in runs if r["external_id"] == job.id]
    return run


def finish(box: World, command: str) -> Job:
    number = box.open_issue()
    assert box.comment(number, command)["delivery"]["status"] == 202
    job = max(box.jobs(), key=lambda j: j.created_at)
    return box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=120)


def test_failing_tests_that_need_not_pass_give_a_failing_check_and_a_draft(
    tmp_path: Path,
) -> None:
    box = World.start(
        tmp_path / "world", lease_seconds=5.0, sample=sample(tmp_path, must_pass=False)
    )
    try:
        box.start_server(workers=1)

        broken = finish(box, "/farcaster rename area surface")
        assert broken.state is JobState.DONE, broken.last_error
        box.wait_for_outbox()
        (pull,) = box.github_client().find_pulls_by_head(
            box.owner, box.repo, f"acme:{broken.branch}"
        )
        assert pull["draft"] is True
        assert "opened as a draft because the tests do not pass" in pull["body"]
        run = check_run(box, broken, broken.branch)
        assert run["conclusion"] == "failure"
        assert run["output"]["title"] == "2 passed, 2 failed (1 new, 1 already failing)"
        assert (
            f"New failures (1):\n- `{PUBLIC_API}` at `tests/test_shapes.py:15`"
            in (run["output"]["summary"])
        )

        fine = finish(box, "/farcaster rename scale resize")
        assert fine.state is JobState.DONE, fine.last_error
        (pull,) = box.github_client().find_pulls_by_head(box.owner, box.repo, f"acme:{fine.branch}")
        assert pull["draft"] is False
        run = check_run(box, fine, fine.branch)
        assert run["conclusion"] == "success"
        assert run["output"]["title"] == "3 passed, 1 failed (0 new, 1 already failing)"
        assert (
            f"Already failing on the base, not counted against this change (1):\n- `{KNOWN_BUG}`"
            in (run["output"]["summary"])
        )
    finally:
        box.close()


def test_failing_tests_that_must_pass_stop_the_job_with_verify_failed(tmp_path: Path) -> None:
    box = World.start(
        tmp_path / "world", lease_seconds=5.0, sample=sample(tmp_path, must_pass=True)
    )
    try:
        box.start_server(workers=1)

        job = finish(box, "/farcaster rename area surface")
        assert job.state is JobState.TOMBSTONED
        tombstone = box.store.tombstone(job.id)
        assert tombstone is not None and tombstone.reason_code == "verify_failed"
        assert f"new failures: {PUBLIC_API}." in tombstone.summary
        box.wait_for_outbox()
        assert (
            box.github_client().find_pulls_by_head(box.owner, box.repo, f"acme:{job.branch}") == []
        )
        assert job.base_sha is not None
        run = check_run(box, job, job.base_sha)
        assert run["conclusion"] == "failure"
        assert run["output"]["title"] == "Stopped: 2 passed, 2 failed (1 new, 1 already failing)"
        assert PUBLIC_API in run["output"]["summary"]
    finally:
        box.close()
