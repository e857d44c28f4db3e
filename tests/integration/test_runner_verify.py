"""The runner runs the repository's own tests after the agent and stores their verdict with
the proposal: new failures named, failures the base already had told apart."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import respx

from bot.app.runtime import Runtime
from bot.core.records import JobState, Phase
from bot.core.verdict import verdict_from_json
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job
from tests.runner_support import github_factory, job_spec, mock_github, sample_repository, tarball
from tests.worker_round import one_round

SAMPLE = Path(__file__).parents[1] / "samples" / "verify_repo"
PUBLIC_API = "tests.test_shapes::test_the_public_api_is_looked_up_by_name"
KNOWN_BUG = "tests.test_known_bug::test_scale_refuses_a_negative_factor"
RENAME_AREA = {"name": "rename", "old": "area", "new": "surface", "paths": []}
RENAME_SCALE = {"name": "rename", "old": "scale", "new": "resize", "paths": []}


def verify_config(run: list[str], *, compare: bool = True, setup: list[str] | None = None) -> str:
    # JSON is YAML's flow style: any argument survives quoting.
    lines = [
        "verify:",
        f"  run: {json.dumps(run)}",
        "  timeout: 120",
        f"  compare_with_base: {json.dumps(compare)}",
    ]
    if setup is not None:
        lines.append(f"  setup: {json.dumps(setup)}")
    return "\n".join(lines) + "\n"


PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def origin(tmp_path: Path, config: str) -> tuple[Path, str]:
    source = tmp_path / "source"
    shutil.copytree(SAMPLE, source)
    (source / ".github" / "farcaster.yml").write_text(config)
    return sample_repository(tmp_path / "origin", source)


@pytest.fixture
def runtime(settings, tmp_path):
    configured = settings.model_copy(update={"scratch_dir": tmp_path / "scratch"})
    rt = Runtime.from_settings(configured, github=github_factory(configured))
    yield rt
    rt.close()


def run_one(runtime: Runtime, tmp_path: Path, config: str, command: dict) -> object:
    repository, sha = origin(tmp_path, config)
    with respx.mock(assert_all_called=False) as router:
        mock_github(router, tarball(repository, sha), sha)
        runtime.store.enqueue(job_spec(command, sha=sha))
        loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
        assert one_round(loop) == 1
    job = runtime.store.get("job1")
    assert job.state is JobState.PROPOSED, runtime.store.events("job1")[-1].data
    proposal = runtime.store.latest_proposal("job1")
    assert proposal is not None
    verdict = verdict_from_json(proposal.verify)
    assert verdict is not None
    return verdict


def test_a_rename_that_breaks_a_test_is_stored_with_the_new_failure_named(
    runtime, tmp_path
) -> None:
    verdict = run_one(runtime, tmp_path, verify_config(PYTEST), RENAME_AREA)

    assert verdict.outcome == "failed"
    assert [t.test for t in verdict.new_failures] == [PUBLIC_API]
    (new,) = verdict.new_failures
    assert new.file == "tests/test_shapes.py" and new.line == 15
    assert [t.test for t in verdict.already_failing] == [KNOWN_BUG]
    assert (verdict.passed, verdict.failed) == (2, 2)
    assert verdict.compared_with_base and verdict.must_pass
    assert list(runtime.settings.scratch_dir.iterdir()) == []


def test_a_test_already_failing_on_the_base_is_reported_and_does_not_fail(
    runtime, tmp_path
) -> None:
    verdict = run_one(runtime, tmp_path, verify_config(PYTEST), RENAME_SCALE)

    assert verdict.outcome == "passed"
    assert verdict.new_failures == ()
    assert [t.test for t in verdict.already_failing] == [KNOWN_BUG]


def test_without_comparing_with_the_base_every_failure_counts(runtime, tmp_path) -> None:
    verdict = run_one(runtime, tmp_path, verify_config(PYTEST, compare=False), RENAME_SCALE)

    assert verdict.outcome == "failed"
    assert [t.test for t in verdict.new_failures] == [KNOWN_BUG]
    assert not verdict.compared_with_base


def test_a_command_without_junit_is_judged_by_its_exit_code_and_log(runtime, tmp_path) -> None:
    script = "import sys; print('3 checks, 1 broken'); sys.exit(1)"
    verdict = run_one(runtime, tmp_path, verify_config([sys.executable, "-c", script]), RENAME_AREA)

    assert (verdict.outcome, verdict.junit, verdict.exit_code) == ("failed", False, 1)
    assert "3 checks, 1 broken" in verdict.log_tail


def test_a_failing_setup_means_the_tests_could_not_be_judged(runtime, tmp_path) -> None:
    config = verify_config(PYTEST, setup=[sys.executable, "-c", "raise SystemExit(4)"])
    verdict = run_one(runtime, tmp_path, config, RENAME_AREA)

    assert verdict.outcome == "error"
    assert verdict.note == "the setup command exited 4"


def test_a_junit_file_that_is_a_link_is_not_followed(runtime, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("<testsuite><testcase classname='leak' name='leak'/></testsuite>")
    script = (
        "import os, sys\n"
        f"os.symlink({str(secret)!r}, os.environ['FARCASTER_JUNIT_XML'])\n"
        "sys.exit(0)\n"
    )
    verdict = run_one(runtime, tmp_path, verify_config([sys.executable, "-c", script]), RENAME_AREA)

    assert (verdict.outcome, verdict.junit) == ("passed", False)
    assert verdict.passed == 0


def test_a_server_secret_in_a_test_message_is_redacted_before_it_is_stored(
    runtime, tmp_path
) -> None:
    secret = runtime.settings.webhook_secret.get_secret_value()
    xml = (
        '<testsuite><testcase classname="t" name="leaks">'
        f'<failure message="token {secret} rejected">tests/t.py:3: boom {secret}</failure>'
        "</testcase></testsuite>"
    )
    script = (
        "import os, sys\n"
        f"open(os.environ['FARCASTER_JUNIT_XML'], 'w').write({xml!r})\n"
        f"print({'log says ' + secret!r})\n"
        "sys.exit(1)\n"
    )
    config = verify_config([sys.executable, "-c", script], compare=False)
    verdict = run_one(runtime, tmp_path, config, RENAME_AREA)

    assert verdict.outcome == "failed"
    stored = str(runtime.store.latest_proposal("job1").verify)
    assert secret not in stored
    assert "token [REDACTED] rejected" in verdict.new_failures[0].message
    assert "log says [REDACTED]" in verdict.log_tail


def test_a_command_agents_own_verify_runs_after_the_diff_and_is_judged_the_same_way(
    settings, tmp_path
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "edit.py").write_text("open('README.md', 'a').write('edited\\n')\n")
    # The agent's tests write a report and fail: neither may reach the proposal as a file.
    check = "open('report.txt', 'w').write('x'); print('1 broken'); raise SystemExit(1)"
    (folder / "agents.toml").write_text(
        f"[agents.coder]\n"
        f"argv = {json.dumps([sys.executable, str(folder / 'edit.py')])}\n"
        f"read_only = {json.dumps([str(folder)])}\n"
        f"verify = {json.dumps([sys.executable, '-c', check])}\n"
        "verify_must_pass = true\n"
    )
    configured = settings.model_copy(
        update={"scratch_dir": tmp_path / "scratch", "agents_file": folder / "agents.toml"}
    )
    runtime = Runtime.from_settings(configured, github=github_factory(configured))
    try:
        command = {"name": "run", "agent": "coder", "instruction": "edit"}
        repository, sha = sample_repository(tmp_path / "origin")  # no verify of its own
        with respx.mock(assert_all_called=False) as router:
            mock_github(router, tarball(repository, sha), sha)
            runtime.store.enqueue(job_spec(command, sha=sha, agent="coder"))
            loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
            assert one_round(loop) == 1
        proposal = runtime.store.latest_proposal("job1")
        assert proposal is not None
        assert "report.txt" not in proposal.diff and "+edited" in proposal.diff
        verdict = verdict_from_json(proposal.verify)
        assert verdict is not None
        assert (verdict.outcome, verdict.exit_code, verdict.must_pass) == ("failed", 1, True)
        assert verdict.blocks  # the interpreter stops it with verify_failed
        assert "1 broken" in verdict.log_tail
    finally:
        runtime.close()


def test_a_test_command_that_cannot_start_means_the_tests_could_not_be_judged(
    runtime, tmp_path
) -> None:
    config = verify_config(["no-such-test-runner", "-q"], compare=False)
    verdict = run_one(runtime, tmp_path, config, RENAME_AREA)

    assert verdict.outcome == "error"
    assert verdict.note.startswith("the test command 'no-such-test-runner' could not be started")
