"""The status comment from the first second: one comment, edited in place at each phase.

Read from GitHub's side: the emulator keeps every body a comment had, timed to the
microsecond, so the test reads when the comment appeared and what it said, in order.
"""

import re
from datetime import datetime

import pytest

from bot.core.records import JobState
from bot.emulator.world import BOT_LOGIN, World

pytestmark = pytest.mark.e2e

HEADING = re.compile(r"^\*\*Farcaster\*\* · job `[^`]+` · (.+)$", re.MULTILINE)


def bot_status(box: World, number: int) -> dict[str, object]:
    """The one status comment on ``number``, with its history."""
    comments = [
        c
        for c in box.gh.issue_comments(box.owner, box.repo, number)
        if c["user"] == BOT_LOGIN and "farcaster:job=" in str(c["body"])
    ]
    assert len(comments) == 1, comments
    return comments[0]


def phases(history: list[dict[str, str]]) -> list[str]:
    """What each body of the comment said it was doing, oldest first."""
    found = [HEADING.search(entry["body"]) for entry in history]
    return [m.group(1) if m else "?" for m in found]


def in_order(seen: list[str], sequence: list[str]) -> bool:
    """Whether ``seen`` is ``sequence`` with some phases left out, none repeated or moved.

    An edit for a phase the job has already left writes nothing (proposals/progress.py), so
    a phase shorter than the drainer's round may never be shown; the comment never goes back.
    """
    rest = iter(sequence)
    return all(phase in rest for phase in seen)


def at(entry: dict[str, str]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def test_the_status_comment_appears_at_once_and_shows_each_phase_in_order(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue()
    sent = box.comment(number, "/farcaster rename net_price price_without_tax")
    job = box.wait_for_state(box.only_job().id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()

    status = bot_status(box, number)
    history = box.gh.comment_history(box.owner, box.repo, int(status["id"]))
    command = box.gh.comment_history(box.owner, box.repo, int(sent["comment"]["id"]))
    # Posted (queued) within 2 s of the command, on the emulator's own clock.
    assert (at(history[0]) - at(command[0])).total_seconds() < 2.0
    shown = phases(history)
    assert in_order(shown, ["queued", "running", "applying", "done"]), shown
    assert shown[0] in ("queued", "running") and shown[-1] == "done", shown
    assert f"Opened pull request #{job.pr_number}" in history[-1]["body"]


def test_a_tombstone_report_rewrites_the_same_comment_with_a_timeline(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue()
    box.comment(number, "/farcaster rename no_such_name other_name")
    job = box.wait_for_state(box.only_job().id, JobState.TOMBSTONED, JobState.DONE, timeout=60)
    assert job.state is JobState.TOMBSTONED
    box.wait_for_outbox()

    status = bot_status(box, number)
    history = box.gh.comment_history(box.owner, box.repo, int(status["id"]))
    shown = phases(history)
    # Edited in place: a live phase first, then the report in the same comment.
    assert in_order(shown, ["queued", "running", "stopped"]) and len(shown) >= 2, shown
    assert shown[-1] == "stopped", shown
    report = history[-1]["body"]
    assert "1 of 5 attempts failed" in report  # the refusal spent the one attempt it made
    block = report.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.startswith("gantt\n") and "section Attempt 1" in block
    assert re.search(r"run - failed unknown_symbol :crit, \d+, \d+", block), block
