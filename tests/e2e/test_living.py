"""A proposal lives on after its pull request opens: people close, merge and revise it.

The status comment is the one place that says what became of the proposal; it is edited in
place, and what it says about the pull request is read from GitHub, not remembered.
"""

import pytest

from bot.core.records import Job, JobState
from bot.emulator.world import BOT_LOGIN, World, wait_until

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
            box.store.get(job.id).attempts > job.attempts
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
