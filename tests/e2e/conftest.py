"""End-to-end fixtures: a Sandbox (emulator + real `farcaster` processes) per test."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.records import Job
from bot.sandbox import BOT_LOGIN, Sandbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox.start(tmp_path / "sandbox", lease_seconds=2.0)
    try:
        yield sandbox
    finally:
        sandbox.close()


def effects_of(box: Sandbox, job: Job) -> dict[str, Any]:
    """What GitHub (the emulator) holds for one job, counted from the outside."""
    state = box.state()
    branch = state["farcaster_branches"].get(job.branch)
    return {
        "pulls": state["pulls"]["by_head"].get(job.branch, 0),
        "branch": branch is not None,
        "commits": branch["commits_not_on_default"] if branch else 0,
        "check_runs": len(state["check_runs"]["by_external_id"].get(job.id, [])),
        "status_comments": state["comments"]["by_issue"]
        .get(str(job.issue_number), {})
        .get(BOT_LOGIN, 0),
    }


ONE_OF_EACH = {"pulls": 1, "branch": True, "commits": 1, "check_runs": 1, "status_comments": 1}


def branch_tree(box: Sandbox, job: Job) -> str:
    client = box.github_client()
    head = client.branch_head(box.owner, box.repo, job.branch)
    return str(client.get_commit(box.owner, box.repo, head)["tree"]["sha"])
