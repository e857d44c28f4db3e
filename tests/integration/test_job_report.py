"""Invalid proposals end in a tombstone, and its report reaches the issue exactly once."""

import pytest

from bot.core.errors import Paced
from bot.core.records import JobState
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Store
from bot.store.outbox import Outbox, OutboxItem
from bot.store.pacing import Bucket, Pacing, pacer
from proposals.job_report import handle_job_report
from proposals.reports import marker
from tests.fakes.github_fake import BOT_USER
from tests.fakes.world import _TOKENS, BASE_FILES, INSTALLATION, ISSUE, World, git_diff


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


def report_items(world: World) -> list[OutboxItem]:
    items = world.report_items()
    assert len(items) == 1, items
    return items


INVALID = {
    "context_mismatch": git_diff(
        {**BASE_FILES, "app/util.py": b"def something_else():\n    pass\n"},
        {"app/util.py": b"def new_name():\n    pass\n"},
    ),
    "parent_path": "diff --git a/../x b/../x\n--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n",
    "workflow_not_allowed": git_diff(BASE_FILES, {".github/workflows/ci.yml": b"on: push\n"}),
    "missing_base_file": git_diff({**BASE_FILES, "gone.py": b"x = 1\n"}, {"gone.py": b"x = 2\n"}),
}


@pytest.mark.parametrize("reason", INVALID)
def test_an_invalid_proposal_is_tombstoned_before_anything_reaches_github(
    world: World, reason: str
) -> None:
    world.enqueue()
    world.propose(INVALID[reason])

    job = world.apply()

    assert job.state is JobState.TOMBSTONED
    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == reason
    assert sum(world.fake.created.values()) == 0
    assert len(report_items(world)) == 1


def test_the_report_rewrites_the_status_comment_and_fails_the_check_run_once(
    world: World,
) -> None:
    world.enqueue()
    world.propose(INVALID["context_mismatch"])
    world.apply()
    (item,) = report_items(world)

    handle_job_report(world.runtime, item)
    handle_job_report(world.runtime, item)  # an outbox retry: same comment, same run

    (comment,) = world.fake.comments_on(ISSUE)
    body = comment["body"]
    assert body.startswith(marker(world.job_id))
    assert "context_mismatch" in body and "not made against the base commit" in body
    assert "| time (UTC) | attempt | step | outcome | message |" in body
    assert f"/farcaster retry {world.job_id}" in body
    assert world.base_sha[:12] in body and "@alice" in body
    (run,) = world.fake.check_runs_named(world.job_id)
    assert (run["head_sha"], run["conclusion"]) == (world.base_sha, "failure")
    assert "context_mismatch" in run["output"]["summary"]
    tombstone = world.store.tombstone(world.job_id)
    assert tombstone is not None and tombstone.comment_id == comment["id"]
    assert world.job().comment_id == comment["id"]
    assert world.fake.created["comment"] == 1 and world.fake.created["check_run"] == 1


def test_the_report_edits_a_status_comment_posted_earlier(world: World) -> None:
    world.enqueue()
    human = world.fake.add_comment(ISSUE, f"quoting: {marker(world.job_id)}")  # not ours
    earlier = world.fake.add_comment(ISSUE, f"{marker(world.job_id)}\nqueued", user=BOT_USER)
    world.propose(INVALID["parent_path"])
    world.apply()

    handle_job_report(world.runtime, report_items(world)[0])

    assert world.fake.created["comment"] == 0
    assert "parent_path" in world.fake.comments[earlier]["body"]
    assert world.fake.comments[human]["body"].startswith("quoting")


def test_a_ref_conflict_report_names_the_branch_and_its_commit(world: World) -> None:
    world.proposed()
    branch = world.job().branch
    theirs = world.fake.seed({"theirs.txt": b"x\n"}, branch=branch)
    world.apply()

    handle_job_report(world.runtime, report_items(world)[0])

    (comment,) = world.fake.comments_on(ISSUE)
    assert "ref_conflict" in comment["body"] and theirs[:12] in comment["body"]
    assert world.fake.refs[branch] == theirs


def test_a_cancelled_job_gets_a_cancel_report_and_a_cancelled_check_run(world: World) -> None:
    world.enqueue()
    world.store.cancel(world.job_id, actor="alice", reason="wrong symbol")

    handle_job_report(world.runtime, report_items(world)[0])

    (comment,) = world.fake.comments_on(ISSUE)
    assert "Cancelled by alice: wrong symbol" in comment["body"]
    (run,) = world.fake.check_runs_named(world.job_id)
    assert run["conclusion"] == "cancelled"


def test_a_report_for_a_job_that_was_retried_meanwhile_is_skipped(world: World) -> None:
    world.enqueue()
    world.propose(INVALID["parent_path"])
    world.apply()
    world.store.retry(world.job_id, actor="alice")

    handle_job_report(world.runtime, report_items(world)[0])

    assert world.fake.calls == []


def test_a_secret_quoted_in_a_refusal_never_reaches_the_tombstone_or_the_report(
    world: World, settings: Settings
) -> None:
    assert settings.webhook_secret is not None
    secret = settings.webhook_secret.get_secret_value()
    world.enqueue()
    world.propose(git_diff(BASE_FILES, {f".github/workflows/{secret}.yml": b"on: push\n"}))
    world.apply()

    handle_job_report(world.runtime, report_items(world)[0])

    tombstone = world.store.tombstone(world.job_id)
    assert tombstone is not None and tombstone.reason_code == "workflow_not_allowed"
    (comment,) = world.fake.comments_on(ISSUE)
    assert secret not in tombstone.summary and secret not in comment["body"]
    assert ".github/workflows/" in comment["body"]


def test_a_report_takes_its_paced_writes_together_so_a_retry_cannot_livelock(
    world: World,
) -> None:
    # Two tokens left, none coming soon: the comment, a new check run and its conclusion
    # need three. Spending two and stopping would make every retry repeat the comment.
    pacing = Pacing(world.store.db, Bucket(rate=1e-9, burst=3))
    assert pacing.take(INSTALLATION, 1) == 0.0
    client = GitHubClient.for_installation(
        world.runtime.settings,
        INSTALLATION,
        transport=world.fake.transport(),
        cache=_TOKENS,
        pace=pacer(pacing, INSTALLATION),
    )
    world.runtime.github = lambda _installation: client
    world.enqueue()
    world.propose(INVALID["context_mismatch"])
    world.apply()
    (item,) = report_items(world)
    writes = sum(world.fake.created.values())

    with pytest.raises(Paced):
        handle_job_report(world.runtime, item)

    assert sum(world.fake.created.values()) == writes  # nothing half-done
