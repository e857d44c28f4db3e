"""A rename through the runner (sandboxed where bwrap works) keeps a real package importable.

The sample is tests/samples/chunkytools, laid out like more-itertools: the proposal the
runner stores, applied to the base commit, gives a package that imports and passes
``pytest --doctest-modules``; the note about mentions left alone is in the stored log.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import respx

from bot.app.runtime import Runtime
from bot.core.records import JobState, Phase
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job
from tests.runner_support import github_factory, job_spec, mock_github, sample_repository, tarball
from tests.worker_round import one_round

CHUNKYTOOLS = Path(__file__).parents[1] / "samples" / "chunkytools"


@pytest.fixture
def runtime(settings, tmp_path):
    configured = settings.model_copy(update={"scratch_dir": tmp_path / "scratch"})
    rt = Runtime.from_settings(configured, github=github_factory(configured))
    yield rt
    rt.close()


def test_a_rename_proposal_leaves_the_package_importable_with_passing_doctests(runtime, tmp_path):
    repository, sha = sample_repository(tmp_path / "origin", CHUNKYTOOLS)
    command = {"name": "rename", "old": "chunked", "new": "split_into_chunks", "paths": []}
    with respx.mock(assert_all_called=False) as router:
        mock_github(router, tarball(repository, sha), sha)
        runtime.store.enqueue(job_spec(command, sha=sha))
        loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
        assert one_round(loop) == 1
    assert runtime.store.get("job1").state is JobState.PROPOSED
    proposal = runtime.store.latest_proposal("job1")
    assert '-    "chunked",\n+    "split_into_chunks",' in proposal.diff
    assert "Note: chunked is also mentioned in 3 strings, 1 comment and 1 other file" in (
        proposal.agent_log
    )

    subprocess.run(["git", "apply", "-"], cwd=repository, input=proposal.diff.encode(), check=True)
    imported = subprocess.run(
        [sys.executable, "-c", "import chunkytools; chunkytools.split_into_chunks"],
        cwd=repository,
        capture_output=True,
        text=True,
    )
    assert imported.returncode == 0, imported.stderr
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--doctest-modules", "-p", "no:cacheprovider"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
