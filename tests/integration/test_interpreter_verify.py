"""The repository's tests decide: the interpreter reports the stored verify verdict on the
check run and the PR, opens a draft when the tests need not pass, and stops when they must."""

from pathlib import Path

import pytest

from bot.core.records import JobState
from bot.core.settings import Settings
from bot.core.verdict import VerifyRun, judge
from bot.core.vocab import EventKind
from bot.store import Store
from bot.store.outbox import Outbox
from proposals.job_report import handle_job_report
from tests.fakes.world import BASE_FILES, RENAMED, World, git_diff

JUNIT = Path(__file__).parents[1] / "samples" / "junit"
HEAD = VerifyRun(1, "", junit=(JUNIT / "pytest_mixed.xml").read_bytes())
BASE = VerifyRun(1, "", junit=(JUNIT / "pytest_base.xml").read_bytes())
NEW_FAILURE = "tests.test_sample::test_area_is_never_negative"


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


def propose_with(world: World, *, head: VerifyRun, base: VerifyRun | None, must_pass: bool) -> None:
    world.enqueue()
    verdict = judge(head, base, must_pass=must_pass)
    world.propose(git_diff(BASE_FILES, RENAMED), verify=verdict.as_json())


def test_failing_tests_that_need_not_pass_open_a_draft_with_a_failing_check_run(
    world: World,
) -> None:
    propose_with(world, head=HEAD, base=BASE, must_pass=False)

    job = world.apply()

    assert job.state is JobState.DONE
    (pull,) = world.fake.pulls
    assert pull["draft"] is True
    assert "opened as a draft because the tests do not pass" in pull["body"]
    assert "3 passed, 3 failed, 2 skipped (1 new, 2 already failing)" in pull["body"]
    (run,) = world.fake.check_runs_named(job.id)
    assert run["conclusion"] == "failure"
    assert run["output"]["title"] == "3 passed, 3 failed, 2 skipped (1 new, 2 already failing)"
    assert f"`{NEW_FAILURE}` at `tests/test_sample.py:11`" in run["output"]["summary"]
    (note,) = run["output"]["annotations"]
    assert (note["path"], note["start_line"], note["title"]) == (
        "tests/test_sample.py",
        11,
        NEW_FAILURE,
    )


def test_failing_tests_that_must_pass_stop_the_job_before_anything_is_written(
    world: World,
) -> None:
    propose_with(world, head=HEAD, base=BASE, must_pass=True)

    job = world.apply()

    assert job.state is JobState.TOMBSTONED
    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "verify_failed"
    assert f"new failures: {NEW_FAILURE}." in tombstone.summary
    # Nothing of the change reached GitHub: no blob, tree, commit, branch, PR or check run.
    # (The status comment may have said "applying" before the verdict was read.)
    written = {kind: n for kind, n in world.fake.created.items() if kind != "comment"}
    assert written == {} and world.fake.created.get("comment", 0) <= 1
    (item,) = world.report_items()
    handle_job_report(world.runtime, item)
    (run,) = world.fake.check_runs_named(job.id)
    assert run["conclusion"] == "failure"
    assert run["output"]["title"].startswith("Stopped: 3 passed, 3 failed")
    assert NEW_FAILURE in run["output"]["summary"]
    assert [a["path"] for a in run["output"]["annotations"]] == ["tests/test_sample.py"]


def test_tests_already_failing_on_the_base_do_not_fail_the_job(world: World) -> None:
    propose_with(world, head=BASE, base=BASE, must_pass=True)

    job = world.apply()

    assert job.state is JobState.DONE
    (pull,) = world.fake.pulls
    assert pull["draft"] is False
    (run,) = world.fake.check_runs_named(job.id)
    assert run["conclusion"] == "success"
    assert (
        "Already failing on the base, not counted against this change (2)"
        in (run["output"]["summary"])
    )


def test_tests_that_could_not_run_are_neutral_on_a_draft(world: World) -> None:
    setup_failed = VerifyRun(None, "", problem="the setup command exited 1")
    propose_with(world, head=setup_failed, base=None, must_pass=False)

    job = world.apply()

    (pull,) = world.fake.pulls
    assert pull["draft"] is True
    (run,) = world.fake.check_runs_named(job.id)
    assert run["conclusion"] == "neutral"
    assert "could not be judged: the setup command exited 1" in run["output"]["title"]


def test_connections_the_egress_proxy_refused_are_listed_on_the_pr_and_check_run(
    world: World,
) -> None:
    world.enqueue()
    world.propose(git_diff(BASE_FILES, RENAMED))
    message = "blocked: evil.example:443 (not in the agent's network allowlist), 3 times"
    data = {"target": "evil.example:443", "reason": "not_allowed", "count": 3, "message": message}
    world.store.note(world.job_id, EventKind.EGRESS_BLOCKED, data)

    job = world.apply()

    assert job.state is JobState.DONE
    (pull,) = world.fake.pulls
    assert f"| Network | {message} |" in pull["body"]
    (run,) = world.fake.check_runs_named(job.id)
    assert message in run["output"]["summary"]


def test_a_plan_lists_the_connections_the_egress_proxy_refused(world: World) -> None:
    world.enqueue(mode="plan")
    world.propose(git_diff(BASE_FILES, RENAMED))
    message = "blocked: evil.example:443 (not in the agent's network allowlist)"
    data = {"target": "evil.example:443", "reason": "not_allowed", "count": 1, "message": message}
    world.store.note(world.job_id, EventKind.EGRESS_BLOCKED, data)

    job = world.apply()

    assert job.state is JobState.PLANNED
    (comment,) = world.fake.comments.values()
    assert f"Network: {message}" in comment["body"]
