"""A proposal lives on after its pull request opens: people close, merge and revise it.

The status comment is the one place that says what became of the proposal; it is edited in
place, and what it says about the pull request is read from GitHub, not remembered.
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.faults import FAULT_EXIT_STATUS, INTERPRETER_POINTS
from bot.core.records import Job, JobState
from bot.emulator.world import BOT_LOGIN, World, wait_until
from tests.e2e.conftest import ENGINES

pytestmark = pytest.mark.e2e

RENAME = "/farcaster rename net_price price_without_tax"


def status_comments(box: World, number: int) -> list[dict[str, object]]:
    return [
        c
        for c in box.gh.issue_comments(box.owner, box.repo, number)
        if c["user"] == BOT_LOGIN and "farcaster:job=" in str(c["body"])
    ]


def status_says(box: World, number: int, words: str, timeout: float = 30.0) -> str:
    """Wait until the one status comment on ``number`` holds ``words``; its body."""

    def holds() -> bool:
        found = status_comments(box, number)
        return len(found) == 1 and words in str(found[0]["body"])

    wait_until(holds, timeout=timeout, what=f"the status comment to say {words!r}")
    (comment,) = status_comments(box, number)
    return str(comment["body"])


def kinds_after(box: World, job_id: str, kind: str) -> list[str]:
    """The job's event kinds after its latest ``kind`` event (none when there is none)."""
    kinds = [str(e.kind) for e in box.store.events(job_id)]
    return kinds[len(kinds) - kinds[::-1].index(kind) :] if kind in kinds else []


def proposal(box: World) -> tuple[int, Job]:
    number = box.open_issue()
    box.comment(number, RENAME)
    job = box.wait_for_state(box.only_job().id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    assert job.pr_number is not None
    return number, job


def test_closing_then_retrying_says_closed_by_a_human_and_merging_says_merged(
    box: World,
) -> None:
    box.start_server(workers=1)
    number, job = proposal(box)
    assert job.pr_number is not None
    status_says(box, number, f"Opened pull request #{job.pr_number}")

    box.gh.close_pull(box.owner, box.repo, job.pr_number, user="alice")
    status_says(box, number, "closed by a human")

    # A retry re-runs the agent; its ledger still remembers an open PR, GitHub knows better.
    box.comment(number, f"/farcaster retry {job.id}")
    wait_until(
        lambda: (
            "completed" in kinds_after(box, job.id, "retried")
            and box.store.get(job.id).state is JobState.DONE
        ),
        timeout=90,
        what="the retried job to finish",
    )
    box.wait_for_outbox()
    body = status_says(box, number, "closed by a human")
    assert "Opened pull request" not in body
    assert box.state()["pulls"]["total"] == 1

    box.gh.reopen_pull(box.owner, box.repo, job.pr_number, user="alice")
    box.gh.close_pull(box.owner, box.repo, job.pr_number, user="alice", merge=True)
    status_says(box, number, f"Pull request #{job.pr_number} was merged.")
    assert box.store.get(job.id).outcome == "merged"


# -- revisions --------------------------------------------------------------------------------


def revisions_of(box: World, parent: Job) -> list[Job]:
    return box.store.revisions(parent.id)


def finished_child(
    box: World,
    parent: Job,
    children: Callable[[World, Job], list[Job]],
    what: str,
    *,
    count: int,
    timeout: float,
) -> Job:
    """Wait until ``parent`` has ``count`` such children and the last one is final; it must
    be done. Its feedback sent too."""
    wait_until(
        lambda: len(children(box, parent)) == count and children(box, parent)[-1].state.is_final,
        timeout=timeout,
        what=f"{what} {count} of {parent.id} to finish",
    )
    child = children(box, parent)[-1]
    assert child.state is JobState.DONE, child.last_error
    box.wait_for_outbox()
    return child


def finished_revision(box: World, parent: Job, count: int = 1) -> Job:
    return finished_child(box, parent, revisions_of, "revision", count=count, timeout=90)


def proposal_with_no_worker(box: World) -> tuple[int, Job]:
    """A proposal's pull request, made by a worker that has stopped since; the tree is
    written in chunks of one entry, so that a fault point inside the chunks is reached."""
    box.start_server(workers=0)
    box.settings_env["FARCASTER_TREE_CHUNK_ENTRIES"] = "1"
    box.start_worker("first")
    number, job = proposal(box)
    assert job.pr_number is not None
    box.stop_worker("first")
    return number, job


def crash_at_then_recover(box: World, point: str, job: Job, command: str) -> None:
    """``command`` on ``job``'s pull request: a worker dies at fault ``point`` handling it,
    then a fresh one takes over."""
    assert job.pr_number is not None
    doomed = box.start_worker("doomed", fault=point)
    box.comment(job.pr_number, command)
    doomed.wait(timeout=90)
    assert doomed.returncode == FAULT_EXIT_STATUS, box.log("doomed")
    box.start_worker("fresh")


def head_of(box: World, branch: str) -> str:
    return box.github_client().branch_head(box.owner, box.repo, branch)


def parents_of(box: World, sha: str) -> list[str]:
    commit = box.github_client().get_commit(box.owner, box.repo, sha)
    return [str(p["sha"]) for p in commit["parents"]]


@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_a_revision_comment_delivered_three_times_adds_one_commit_to_the_proposal(
    box: World,
) -> None:
    box.start_server(workers=1)
    number, job = proposal(box)
    assert job.pr_number is not None
    before = head_of(box, job.branch)

    sent = box.comment(job.pr_number, "/farcaster rename TAX_RATE VAT_RATE")
    for _ in range(2):
        box.gh.redeliver(sent["delivery"]["id"])
    revision = finished_revision(box, job)

    assert (revision.parent_id, revision.revision) == (job.id, 1)
    head = head_of(box, job.branch)
    assert parents_of(box, head) == [before]
    state = box.state()
    assert state["pulls"]["total"] == 1
    assert state["farcaster_branches"][job.branch]["commits_not_on_default"] == 2
    files = box.gh.files(box.owner, box.repo, ref=job.branch)
    assert "VAT_RATE = 0.2" in files["inventory/pricing.py"]
    assert "def price_without_tax(gross):" in files["inventory/pricing.py"]
    moves = box.gh.ref_log(box.owner, box.repo, f"refs/heads/{job.branch}")
    assert [m["forced"] for m in moves] == [False, False]  # created, then one fast-forward
    body = status_says(box, number, "**Revisions**")
    assert f"1. `/farcaster rename TAX_RATE VAT_RATE` by @alice: commit `{head[:12]}`" in body
    assert f"Opened pull request #{job.pr_number}" in body
    assert len(box.jobs()) == 2


def spot_agents_file(box: World) -> Path:
    """An agent that writes the argv it was given into ``spot.txt``."""
    code = "import sys, pathlib; pathlib.Path('spot.txt').write_text(sys.argv[1] + '\\n')"
    argv = json.dumps([sys.executable, "-c", code, "{path}:{line}"])
    path = box.root / "agents.toml"
    path.write_text(f"[agents.spot]\nargv = {argv}\n")
    return path


def test_an_inline_review_comment_gives_its_file_and_line_to_the_agent(box: World) -> None:
    box.start_server(workers=1, env={"FARCASTER_AGENTS_FILE": str(spot_agents_file(box))})
    number, job = proposal(box)
    assert job.pr_number is not None
    before = head_of(box, job.branch)

    box.gh.review_comment(
        box.owner,
        box.repo,
        job.pr_number,
        "/farcaster run spot mark this line",
        user="alice",
        path="inventory/pricing.py",
        line=6,
    )
    finished_revision(box, job)

    files = box.gh.files(box.owner, box.repo, ref=job.branch)
    assert files["spot.txt"] == "inventory/pricing.py:6\n"
    assert parents_of(box, head_of(box, job.branch)) == [before]
    status_says(box, number, "1. `/farcaster run spot 'mark this line'` by @alice")


def test_a_revision_of_a_closed_proposal_gets_one_line_and_no_job(box: World) -> None:
    box.start_server(workers=1)
    _, job = proposal(box)
    assert job.pr_number is not None
    box.gh.close_pull(box.owner, box.repo, job.pr_number, user="alice")

    sent = box.comment(job.pr_number, "/farcaster rename TAX_RATE VAT_RATE")
    box.wait_for_delivery(sent["delivery"]["id"])
    box.wait_for_outbox()

    assert revisions_of(box, job) == [] and len(box.jobs()) == 1
    replies = [
        c
        for c in box.gh.issue_comments(box.owner, box.repo, job.pr_number)
        if c["user"] == BOT_LOGIN
    ]
    assert len(replies) == 1
    assert "pull request is closed; Farcaster revises only open proposals" in str(
        replies[0]["body"]
    )


@pytest.mark.short_lease
@pytest.mark.slow
@pytest.mark.parametrize("point", INTERPRETER_POINTS)
@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_a_worker_killed_at_each_interpreter_fault_point_of_a_revision_leaves_one_commit(
    box: World, point: str
) -> None:
    number, job = proposal_with_no_worker(box)
    before = head_of(box, job.branch)

    crash_at_then_recover(box, point, job, "/farcaster rename TAX_RATE VAT_RATE")
    finished_revision(box, job)

    head = head_of(box, job.branch)
    assert parents_of(box, head) == [before]
    state = box.state()
    assert state["farcaster_branches"][job.branch]["commits_not_on_default"] == 2
    assert state["pulls"]["by_head"][job.branch] == 1
    status_says(box, number, f"commit `{head[:12]}`")


# -- refresh --------------------------------------------------------------------------------

PRICING = "inventory/pricing.py"
GROSS = "\n\ndef gross_price(net):\n    return round(net * (1 + TAX_RATE), 2)\n"


def revised_proposal(box: World) -> tuple[int, Job]:
    """A proposal with one landed revision (rename TAX_RATE to VAT_RATE)."""
    number, job = proposal(box)
    assert job.pr_number is not None
    box.comment(job.pr_number, "/farcaster rename TAX_RATE VAT_RATE")
    finished_revision(box, job)
    return number, job


def push_to_main(box: World, files: dict[str, str], user: str = "carol") -> str:
    """A human's push to main, once triage has decided its ``push`` delivery; its SHA."""
    sent = box.gh.push_commit(box.owner, box.repo, "main", files, user=user, message="moves")
    box.wait_for_delivery(sent["delivery"]["id"])
    return str(sent["sha"])


def refreshes_of(box: World, parent: Job) -> list[Job]:
    return [j for j in box.store.revisions(parent.id) if j.mode == "refresh"]


def forced_moves(box: World, job: Job) -> list[dict[str, object]]:
    moves = box.gh.ref_log(box.owner, box.repo, f"refs/heads/{job.branch}")
    return [m for m in moves if m["forced"]]


def finished_refresh(box: World, parent: Job, count: int = 1) -> Job:
    return finished_child(box, parent, refreshes_of, "refresh", count=count, timeout=120)


@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_a_base_push_touching_a_proposal_file_refreshes_it_with_its_revisions(
    box: World,
) -> None:
    box.start_server(workers=1)
    number, job = revised_proposal(box)
    main = box.gh.files(box.owner, box.repo, ref="main")
    new_base = push_to_main(box, {PRICING: main[PRICING] + GROSS})

    finished_refresh(box, job)

    head = head_of(box, job.branch)
    assert parents_of(box, head) == [new_base]
    files = box.gh.files(box.owner, box.repo, ref=job.branch)
    assert "def price_without_tax(gross):" in files[PRICING]
    assert "return round(net * (1 + VAT_RATE), 2)" in files[PRICING]  # revision replayed
    assert box.state()["pulls"]["total"] == 1
    assert len(forced_moves(box, job)) == 1
    body = status_says(box, number, f"Refreshed on `main` at `{new_base[:12]}`")
    assert "**Revisions**" in body


def test_a_base_push_touching_nothing_of_the_proposal_changes_nothing(box: World) -> None:
    box.start_server(workers=1)
    _, job = proposal(box)
    before = head_of(box, job.branch)

    sent = box.gh.push_commit(
        box.owner, box.repo, "main", {"docs/notes.md": "unrelated\n"}, user="carol"
    )

    decided = box.wait_for_delivery(sent["delivery"]["id"])
    assert decided.reason is not None and "changed none of its files" in decided.reason
    box.wait_for_outbox()
    assert refreshes_of(box, job) == []
    assert head_of(box, job.branch) == before
    assert forced_moves(box, job) == []


def test_after_a_human_commit_refresh_pauses_once_until_forced(box: World) -> None:
    box.start_server(workers=1)
    number, job = proposal(box)
    assert job.pr_number is not None
    branch_files = box.gh.files(box.owner, box.repo, ref=job.branch)
    human = box.gh.push(
        box.owner,
        box.repo,
        job.branch,
        {"inventory/receipt.py": branch_files["inventory/receipt.py"] + "# reviewed\n"},
        user="alice",
    )
    status_says(box, number, "Refresh paused")  # the push to the proposal said so already
    main = box.gh.files(box.owner, box.repo, ref="main")
    push_to_main(box, {PRICING: main[PRICING] + GROSS})
    push_to_main(box, {PRICING: main[PRICING] + GROSS + "\n# again\n"})
    box.wait_for_outbox()

    assert refreshes_of(box, job) == []
    assert head_of(box, job.branch) == human and forced_moves(box, job) == []
    body = status_says(box, number, "Refresh paused")
    assert body.count("Refresh paused") == 1
    (status,) = status_comments(box, number)
    history = box.gh.comment_history(box.owner, box.repo, int(str(status["id"])))
    assert sum("Refresh paused" in h["body"] for h in history) == 1  # said once

    box.comment(job.pr_number, "/farcaster refresh --force")
    finished_refresh(box, job)

    assert len(forced_moves(box, job)) == 1
    files = box.gh.files(box.owner, box.repo, ref=job.branch)
    assert "# reviewed" not in files["inventory/receipt.py"]
    assert "def price_without_tax(gross):" in files[PRICING]
    status_says(box, number, "Refreshed on `main`")


@pytest.mark.slow
def test_twenty_base_pushes_in_a_minute_give_at_most_one_refresh_per_proposal(
    box: World,
) -> None:
    box.start_server(workers=1)
    _, first = proposal(box)
    second_issue = box.open_issue("another")
    box.comment(second_issue, "/farcaster rename Basket Cart")
    (second,) = [j for j in box.jobs() if j.issue_number == second_issue]
    second = box.wait_for_state(second.id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert second.state is JobState.DONE, second.last_error
    main = box.gh.files(box.owner, box.repo, ref="main")

    for n in range(20):
        push_to_main(box, {PRICING: main[PRICING] + GROSS + f"\n# storm {n}\n"})

    for job in (first, second):
        wait_until(
            lambda job=job: (
                bool(refreshes_of(box, job)) and refreshes_of(box, job)[0].state.is_final
            ),
            timeout=120,
            what=f"the first refresh of {job.id}",
        )
    box.wait_for_outbox()
    for job in (first, second):
        ran, *later = refreshes_of(box, job)
        # It took the base's head when it started and landed there, however busy the base
        # branch was meanwhile (re-running it each time would end in `too_many_drifts`).
        assert ran.state is JobState.DONE, (ran.state, ran.last_error)
        assert len(forced_moves(box, job)) == 1  # one refresh ran for twenty pushes
        # Pushes after it took its base leave one refresh waiting for the window's end.
        assert len(later) <= 1
        for waiting in later:
            assert waiting.state is JobState.QUEUED
            assert waiting.run_after >= ran.created_at + 300


def test_a_base_push_while_a_refresh_is_made_lands_it_on_its_base_and_schedules_the_next(
    box: World,
) -> None:
    box.start_server(workers=0)
    box.start_worker("first")
    number, job = proposal(box)
    box.stop_worker("first")
    main = box.gh.files(box.owner, box.repo, ref="main")
    # This worker makes the refresh the push starts, stores its proposal, then dies.
    doomed = box.start_worker("doomed", fault="after_proposal")
    taken = push_to_main(box, {PRICING: main[PRICING] + GROSS})
    doomed.wait(timeout=90)
    assert doomed.returncode == FAULT_EXIT_STATUS, box.log("doomed")
    # The base moves again, on a file the refresh touches, before the refresh is applied.
    push_to_main(box, {PRICING: main[PRICING] + GROSS + "\n# again\n"})

    box.start_worker("fresh")
    wait_until(lambda: refreshes_of(box, job)[0].state.is_final, timeout=120, what="the refresh")
    box.wait_for_outbox()

    ran, waiting = refreshes_of(box, job)
    assert ran.state is JobState.DONE, (ran.state, ran.last_error)
    assert parents_of(box, head_of(box, job.branch)) == [taken]  # not run again on the new head
    assert len(forced_moves(box, job)) == 1
    events = box.store.events(ran.id)
    assert not [e for e in events if e.kind == "drift"]
    checks = [e.data for e in events if e.kind == "drift_checked"]
    assert {"cause": "touched", "files": [PRICING]}.items() <= checks[0].items(), checks
    # The second push scheduled the next refresh, for the window's end: it takes the head then.
    assert waiting.state is JobState.QUEUED and waiting.run_after >= ran.created_at + 300
    status_says(box, number, f"Refreshed on `main` at `{taken[:12]}`")


def test_a_revision_whose_branch_moved_meanwhile_runs_again_on_the_new_head(
    box: World,
) -> None:
    box.start_server(workers=0)
    box.start_worker("first")
    number, job = proposal(box)
    assert job.pr_number is not None
    box.stop_worker("first")
    # This worker stores the revision's proposal (on the branch's head), then dies.
    doomed = box.start_worker("doomed", fault="after_proposal")
    box.comment(job.pr_number, "/farcaster rename TAX_RATE VAT_RATE")
    doomed.wait(timeout=90)
    assert doomed.returncode == FAULT_EXIT_STATUS, box.log("doomed")
    branch_files = box.gh.files(box.owner, box.repo, ref=job.branch)
    human = box.gh.push(
        box.owner,
        box.repo,
        job.branch,
        {"inventory/receipt.py": branch_files["inventory/receipt.py"] + "# reviewed\n"},
        user="alice",
    )

    box.start_worker("fresh")
    revision = finished_revision(box, job)

    head = head_of(box, job.branch)
    assert parents_of(box, head) == [human]  # the human commit is kept, ours on top
    assert forced_moves(box, job) == []
    drifts = [e for e in box.store.events(revision.id) if e.kind == "drift"]
    assert [e.data["cause"] for e in drifts] == ["branch_moved"]
    files = box.gh.files(box.owner, box.repo, ref=job.branch)
    assert "# reviewed" in files["inventory/receipt.py"]
    assert "VAT_RATE = 0.2" in files[PRICING]
    status_says(box, number, f"commit `{head[:12]}`")


@pytest.mark.short_lease
@pytest.mark.slow
@pytest.mark.parametrize("point", INTERPRETER_POINTS)
def test_a_worker_killed_at_each_interpreter_fault_point_of_a_refresh_moves_the_branch_once(
    box: World, point: str
) -> None:
    number, job = proposal_with_no_worker(box)
    # The base moves where the proposal does not look, so nothing refreshes by itself.
    base = push_to_main(box, {"docs/moved.md": "moved\n"})
    crash_at_then_recover(box, point, job, "/farcaster refresh")
    finished_refresh(box, job)

    assert parents_of(box, head_of(box, job.branch)) == [base]
    assert len(forced_moves(box, job)) == 1
    assert box.state()["pulls"]["by_head"][job.branch] == 1
    status_says(box, number, f"Refreshed on `main` at `{base[:12]}`")


def test_the_repository_setting_never_or_behind_decides_what_a_base_push_refreshes(
    box: World,
) -> None:
    box.start_server(workers=1)
    number, job = proposal(box)
    main = box.gh.files(box.owner, box.repo, ref="main")

    push_to_main(box, {".github/farcaster.yml": "refresh: never\n", PRICING: main[PRICING] + GROSS})
    box.wait_for_outbox()
    assert refreshes_of(box, job) == []

    # behind: a push that touches nothing of the proposal refreshes it all the same.
    base = push_to_main(box, {".github/farcaster.yml": "refresh: behind\n"})
    finished_refresh(box, job)
    assert parents_of(box, head_of(box, job.branch)) == [base]
    status_says(box, number, f"Refreshed on `main` at `{base[:12]}`")
