"""The interpreter against the stateful fake GitHub, on SQLite and PostgreSQL.

What a user would notice: one pull request whose commit is the base plus the diff; a stale
proposal re-run instead of applied; someone else's branch left alone; a closed PR left
closed; a rate limit turning into a scheduled retry rather than a failure.
"""

import pytest

from bot.core.errors import GitHubUnavailable
from bot.core.records import JobState, Phase, display_state
from bot.core.settings import Settings
from bot.store import Store, statements
from bot.store.outbox import Outbox
from bot.worker.leases import LeaseGuard
from proposals.interpreter import apply_job
from proposals.replay import replay
from proposals.reports import marker
from tests.fakes.github_fake import FakeGitHub
from tests.fakes.world import BASE_FILES, ISSUE, RENAMED, World, applied, git_diff


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


def assert_one_of_each(world: World) -> None:
    created = world.fake.created
    assert created["ref"] == 1
    assert created["commit"] == 1
    assert created["pull"] == 1
    assert created["comment"] == 1
    assert created["check_run"] == 1


def test_a_proposal_becomes_one_pull_request_whose_commit_is_the_base_plus_the_diff(
    world: World,
) -> None:
    world.proposed()
    job = world.apply()

    fake = world.fake
    assert job.state is JobState.DONE
    (pull,) = fake.pulls
    assert (job.pr_number, pull["head"], pull["base"]) == (pull["number"], job.branch, "main")
    assert marker(job.id) in pull["body"] and "@alice" in pull["body"]
    head = fake.refs[job.branch]
    assert fake.files_at(head) == applied(BASE_FILES, RENAMED)
    commit = fake.commits[head]
    assert commit["parents"] == [world.base_sha]
    assert commit["author"]["name"] == "farcaster[bot]"
    assert commit["author"] == commit["committer"]
    assert f"Farcaster-Job: {job.id}" in commit["message"]
    (run,) = fake.check_runs_named(job.id)
    assert (run["head_sha"], run["status"], run["conclusion"]) == (head, "completed", "success")
    (comment,) = fake.comments_on(ISSUE)
    assert comment["body"].startswith(marker(job.id))
    assert f"#{pull['number']}" in comment["body"]
    assert (job.comment_id, job.check_run_id) == (comment["id"], run["id"])
    assert_one_of_each(world)


def test_a_lost_ledger_converges_on_the_same_branch_and_pull_request_even_when_signed(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    """GitHub may sign an App's commits, so a second commit of the same content gets another
    SHA; the branch is still recognised as ours by its commit's tree and parent."""
    world = World.make(store, outbox, settings, fake=FakeGitHub(sign_commits=True))
    world.proposed()
    first = world.apply()
    head = world.fake.refs[first.branch]
    with store.db.transaction() as conn:  # the ledger is lost: say, a restored backup
        statements.delete_effects(conn, first.id)

    replay(world.runtime.store, first.id)
    job = world.apply()

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    assert world.fake.refs[job.branch] == head
    assert world.fake.created["commit"] == 2  # a second, signed commit nobody points at
    for kind in ("ref", "pull", "comment", "check_run"):
        assert world.fake.created[kind] == 1, kind


def test_drift_on_a_touched_file_sends_the_job_back_to_run_on_the_new_head(world: World) -> None:
    world.proposed()
    new_head = world.fake.push("main", {"app/util.py": b"def old_name(x):\n    return x + x\n"})

    job = world.apply()

    assert job.state is JobState.QUEUED and job.base_sha == new_head
    drift = [e for e in world.store.events(job.id) if e.kind == "drift"]
    assert drift[-1].data["files"] == ["app/util.py"]
    assert not world.fake.pulls and world.fake.created["commit"] == 0
    assert world.fake.created["blob"] == 0
    assert world.effect_steps() == []


def test_drift_elsewhere_applies_the_proposal_on_its_recorded_base(world: World) -> None:
    world.proposed()
    world.fake.push("main", {"README.md": b"# demo, renamed\n"})

    job = world.apply()

    assert job.state is JobState.DONE
    head = world.fake.refs[job.branch]
    assert world.fake.commits[head]["parents"] == [world.base_sha]
    (checked,) = [e for e in world.store.events(job.id) if e.kind == "drift_checked"]
    assert checked.data["changed_elsewhere"] == 1 and checked.data["cause"] == "untouched"


def test_a_rate_limit_schedules_the_apply_again_spending_no_attempt(world: World) -> None:
    world.proposed()
    attempts_before = world.job().attempts
    world.fake.rate_limit_next("POST", r"/pulls$", retry_after=120)

    job = world.apply()

    assert job.state is JobState.PROPOSED and job.attempts == attempts_before
    assert job.run_after >= job.updated_at + 119
    assert display_state(job, now=job.updated_at) == "scheduled"
    assert world.event_kinds()[-1] == "rate_limited"
    assert world.store.claim("eager", Phase.APPLY) == []  # not before the delay

    job = world.apply(now=world.later(200))
    assert job.state is JobState.DONE
    assert_one_of_each(world)


def test_a_server_error_propagates_for_the_worker_loop_to_retry(world: World) -> None:
    world.proposed()
    world.fake.fail_next("POST", r"/git/commits$", status=502, times=5)

    lease = world.claim()
    with pytest.raises(GitHubUnavailable):
        apply_job(world.runtime, lease, LeaseGuard(lease))
    # Text goes inline in one tree request, recorded as its chunk and as the whole tree.
    assert set(world.effect_steps()) == {f"tree:{len(RENAMED)}", "tree"}
    assert world.fake.created["blob"] == 0


def test_replaying_a_done_job_converges_on_the_same_objects(world: World) -> None:
    world.proposed()
    done = world.apply()

    replayed = replay(world.runtime.store, done.id[:6], actor="ops")
    assert replayed.state is JobState.PROPOSED
    job = world.apply()

    assert job.state is JobState.DONE and job.pr_number == done.pr_number
    assert_one_of_each(world)
    assert "replay_requested" in world.event_kinds()


def test_a_human_commit_on_the_branch_is_never_overwritten(world: World) -> None:
    world.proposed()
    branch = world.job().branch
    world.fake.seed({"theirs.txt": b"mine\n"}, branch=branch)
    theirs = world.fake.refs[branch]

    job = world.apply()

    assert job.state is JobState.TOMBSTONED
    assert world.fake.refs[branch] == theirs
    assert not world.fake.pulls
    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "ref_conflict"
    assert branch in tombstone.summary and theirs[:12] in tombstone.summary
    assert [i["kind"] for i in world.outbox.items(kind="job_report")] == ["job_report"]


def test_a_truncated_tree_listing_is_walked_one_directory_at_a_time(world: World) -> None:
    world.fake.truncate_trees = True
    world.proposed()
    job = world.apply()
    assert job.state is JobState.DONE
    assert world.fake.files_at(world.fake.refs[job.branch]) == applied(BASE_FILES, RENAMED)


def test_a_changed_proposal_moves_our_own_branch_and_keeps_the_pull_request(
    world: World,
) -> None:
    world.proposed()
    first = world.apply()
    old_head = world.fake.refs[first.branch]

    # A maintainer retries; the agent now also edits the docs.
    world.store.retry(first.id, actor="alice")
    edits = {**RENAMED, "docs/guide.md": b"Call new_name to double a number.\n"}
    world.propose(git_diff(BASE_FILES, edits))
    assert world.apply().state is JobState.PROPOSED  # the stale ledger is cleared first
    job = world.apply()

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    new_head = world.fake.refs[job.branch]
    assert new_head != old_head
    assert world.fake.files_at(new_head) == applied(BASE_FILES, edits)
    assert world.fake.created["pull"] == 1 and world.fake.created["comment"] == 1
    assert "proposal_changed" in world.event_kinds()


class Crash(BaseException):
    """Stands for the process dying right after GitHub answered."""


def test_a_pull_request_a_human_closed_is_not_reopened(world: World) -> None:
    world.proposed()
    world.fake.crash_after("POST", r"/pulls$", Crash)
    with pytest.raises(Crash):
        world.apply()
    (pull,) = world.fake.pulls
    world.fake.close_pull(pull["number"])  # before the interpreter came back

    job = world.apply(now=world.later())

    assert job.state is JobState.DONE and job.pr_number == pull["number"]
    assert pull["state"] == "closed" and world.fake.created["pull"] == 1
    (comment,) = world.fake.comments_on(ISSUE)
    assert "closed by a human without merging" in comment["body"]
    assert "does not reopen it" in comment["body"]
    assert world.fake.created["check_run"] == 0


def test_a_plan_posts_the_diff_and_opens_nothing_until_applied(world: World) -> None:
    world.proposed(mode="plan")
    job = world.apply()

    assert job.state is JobState.PLANNED
    assert not world.fake.pulls and world.fake.created["ref"] == 0
    assert world.fake.created["commit"] == 0 and world.fake.created["blob"] == 0
    (comment,) = world.fake.comments_on(ISSUE)
    assert "<details><summary>Proposed diff</summary>" in comment["body"]
    assert "+def new_name(x):" in comment["body"]
    assert f"/farcaster apply {job.id}" in comment["body"]
    (run,) = world.fake.check_runs_named(job.id)
    assert (run["head_sha"], run["conclusion"]) == (world.base_sha, "neutral")

    world.store.apply_plan(job.id, actor="alice")
    job = world.apply()

    assert job.state is JobState.DONE and job.mode == "pr"
    assert world.fake.files_at(world.fake.refs[job.branch]) == applied(BASE_FILES, RENAMED)
    (comment,) = world.fake.comments_on(ISSUE)
    assert f"#{job.pr_number}" in comment["body"]
    runs = {r["head_sha"]: r["conclusion"] for r in world.fake.check_runs_named(job.id)}
    # The plan's run stays the plan's (neutral, on the base); the PR gets its own.
    assert runs == {world.base_sha: "neutral", world.fake.refs[job.branch]: "success"}
    assert world.store.proposals(job.id)[0].id == world.store.latest_proposal(job.id).id


def test_renames_deletions_and_new_files_land_in_the_tree_exactly(world: World) -> None:
    edits: dict[str, bytes | None] = {
        "docs/guide.md": None,
        "docs/usage.md": BASE_FILES["docs/guide.md"],  # git shows this as a rename
        "README.md": None,
        "app/new.py": b"VALUE = 1\n",
        **RENAMED,
    }
    diff = git_diff(BASE_FILES, edits)
    assert "rename from docs/guide.md" in diff
    world.enqueue()
    world.propose(diff)

    job = world.apply()

    assert job.state is JobState.DONE
    assert world.fake.files_at(world.fake.refs[job.branch]) == applied(BASE_FILES, edits)


def test_a_proposal_that_waited_is_checked_for_drift_again_before_its_branch_exists(
    world: World,
) -> None:
    world.proposed()
    world.fake.rate_limit_next("POST", r"/git/refs$", retry_after=60)
    assert world.apply().state is JobState.PROPOSED  # blobs, tree and commit are recorded
    head = world.fake.push("main", {"app/main.py": b"print('changed meanwhile')\n"})

    job = world.apply(now=world.later())

    assert job.state is JobState.QUEUED and job.base_sha == head
    assert job.branch not in world.fake.refs and not world.fake.pulls


def test_a_branch_made_for_a_proposal_that_went_stale_is_moved_to_the_new_one(
    world: World,
) -> None:
    """The branch was created, then the process died before recording it, and meanwhile the
    base moved under a touched file: the job re-runs, and its own branch is moved."""
    world.proposed()
    world.fake.crash_after("POST", r"/git/refs$", Crash)
    with pytest.raises(Crash):
        world.apply()
    old_commit = world.fake.refs[world.job().branch]
    moved = {"app/util.py": b"def old_name(x):\n    return 2 * x\n"}
    head = world.fake.push("main", moved)
    assert world.apply(now=world.later()).state is JobState.QUEUED

    new_base = applied(BASE_FILES, moved)
    edits = {
        "app/util.py": b"def new_name(x):\n    return 2 * x\n",
        **{"app/main.py": RENAMED["app/main.py"]},
    }
    world.propose(git_diff(new_base, edits), now=world.later(120))
    job = world.apply(now=world.later(180))

    assert job.state is JobState.DONE
    branch_head = world.fake.refs[job.branch]
    assert branch_head != old_commit
    assert world.fake.commits[branch_head]["parents"] == [head]
    assert world.fake.files_at(branch_head) == applied(new_base, edits)
    assert world.fake.created["pull"] == 1 and world.fake.created["ref_update"] == 1


def new_symlink(path: str, target: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


def test_a_new_link_is_followed_through_the_links_of_the_base(world: World) -> None:
    # `d/up -> ..` is at the base (harmless: it is the root); `d/esc -> up/..` alone looks
    # like `d`, but through `d/up` it is the folder above the repository.
    world.base_sha = world.fake.seed(
        {**BASE_FILES, "d/up": b"..", "d/keep.txt": b"x\n"}, modes={"d/up": "120000"}
    )
    world.enqueue()
    world.propose(new_symlink("d/esc", "up/.."))
    job = world.apply()
    assert job.state is JobState.TOMBSTONED
    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "symlink_outside_repo"
    assert "`d/esc` points to `up/..` (through the link `d/up`)" in tombstone.summary
    assert world.fake.pulls == []


def test_a_new_link_through_a_base_link_that_stays_inside_is_published(world: World) -> None:
    world.base_sha = world.fake.seed(
        {**BASE_FILES, "d/up": b"..", "d/keep.txt": b"x\n"}, modes={"d/up": "120000"}
    )
    world.enqueue()
    world.propose(new_symlink("d/readme", "up/d/keep.txt"))
    assert world.apply().state is JobState.DONE
    (pull,) = world.fake.pulls
    assert world.fake.files_at(world.fake.refs[pull["head"]])["d/readme"] == b"up/d/keep.txt"
