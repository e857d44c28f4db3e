"""GitHub's budget end to end: a stale worker stops within one tree chunk, and a proposal
larger than one rate-limit window finishes with one PR under GitHub's content limit.

Every tree request carries one entry here (FARCASTER_TREE_CHUNK_ENTRIES=1), so the sample
rename's tree takes several chunks and a pause or a wait can fall between two of them.
"""

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from bot.core.records import JobState
from bot.emulator.world import World, wait_until
from tests.e2e.conftest import ONE_OF_EACH, effects_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
COMMAND = "/farcaster rename net_price price_without_tax"
CONTENT = ("POST", "PATCH", "PUT", "DELETE")


def stopped(pid: int) -> bool:
    """True while the process is stopped by a signal (state T in /proc)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def writes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content-creating requests, minting installation tokens left out."""
    return [
        e
        for e in entries
        if e["method"] in CONTENT
        and "/access_tokens" not in e["path"]
        and not e["path"].startswith("/_emulator")
    ]


@pytest.mark.short_lease
def test_a_worker_stopped_mid_tree_and_resumed_after_its_lease_sends_at_most_one_chunk(
    box: World,
) -> None:
    box.settings_env["FARCASTER_TREE_CHUNK_ENTRIES"] = "1"
    box.start_server(workers=0)
    number = box.open_issue("pause me")
    doomed = box.start_worker("doomed", fault="after_tree_chunk:stop")
    box.comment(number, COMMAND)
    (job,) = box.jobs()
    wait_until(lambda: stopped(doomed.pid), timeout=60, what="the worker to stop itself")

    box.start_worker("fresh")  # takes the job over once the stopped worker's lease runs out
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    box.stop_worker("fresh")
    since = box.gh.journal_position()

    os.kill(doomed.pid, signal.SIGCONT)
    wait_until(
        lambda: (
            f"job {job.id}: stopped without writing" in box.log("doomed")
            or f"job {job.id}: another worker owns it now" in box.log("doomed")
        ),
        timeout=30,
        what="the resumed worker to notice it lost the job",
    )

    late = writes(box.gh.journal(since=since))
    assert len(late) <= 1 and all(e["path"].endswith("/git/trees") for e in late), late
    assert effects_of(box, job) == ONE_OF_EACH
    chunks = [
        e
        for e in box.store.events(job.id)
        if e.kind == "effect" and str(e.data["step"]).startswith("tree:")
    ]
    assert len(chunks) >= 3 and len({e.fencing_token for e in chunks}) == 2


def run_one(box: World, title: str) -> tuple[str, list[dict[str, Any]]]:
    """One command from comment to done (its report included); the requests it caused."""
    since = box.gh.journal_position()
    before = {j.id for j in box.jobs()}
    box.comment(box.open_issue(title), COMMAND)
    (job,) = [j for j in box.jobs() if j.id not in before]
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=300)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    return job.id, box.gh.journal(since=since, limit=100_000)


def test_a_proposal_larger_than_one_rate_limit_window_finishes_with_one_pull_request(
    box: World,
) -> None:
    box.settings_env["FARCASTER_TREE_CHUNK_ENTRIES"] = "1"
    box.start_server(workers=0)
    box.start_worker("reference")
    _, reference = run_one(box, "uninterrupted")
    expected = len(writes(reference))
    box.stop_processes()

    # GitHub allows 10 writes a minute here, fewer than this proposal needs; Farcaster paces
    # itself to at most 2 + 8 in any minute.
    per_minute = 10
    assert expected > per_minute
    box.gh.limit_content(per_minute=per_minute, per_hour=10_000)
    box.settings_env |= {"FARCASTER_WRITES_PER_MINUTE": "8", "FARCASTER_WRITE_BURST": "2"}
    box.start_server(workers=0)
    box.start_worker("paced")
    job_id, limited = run_one(box, "over a window")

    assert effects_of(box, box.store.get(job_id)) == ONE_OF_EACH
    assert [e for e in limited if e["status"] == 403] == []
    assert len(writes(limited)) <= 1.1 * expected
    kinds = [e.kind for e in box.store.events(job_id)]
    assert "paced" in kinds  # it waited as scheduled, between attempts
