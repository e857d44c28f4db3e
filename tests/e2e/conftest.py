"""End-to-end fixtures: a World (emulator + real `farcaster` processes) per test."""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.records import Job
from bot.emulator.world import BOT_LOGIN, World
from tests.databases import fresh_pg_database

# A lease no busy machine loses by accident (tests run four at a time beside other work);
# tests that kill or stop a worker and wait its lease out ask for a short one.
GENEROUS_LEASE_SECONDS = 20.0
SHORT_LEASE_SECONDS = 2.0


@pytest.fixture
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A test world on SQLite, or on a fresh PostgreSQL database when a test asks with
    ``@pytest.mark.parametrize("box", ENGINES, indirect=True)``. Its lease is generous
    unless the test is marked ``short_lease``."""
    engine = getattr(request, "param", "sqlite")
    short = request.node.get_closest_marker("short_lease") is not None
    lease = SHORT_LEASE_SECONDS if short else GENEROUS_LEASE_SECONDS
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(fresh_pg_database("farcaster_e2e"))
            if engine == "postgres"
            else None
        )
        world = World.start(tmp_path / "world", database_url=url, lease_seconds=lease)
        stack.callback(world.close)
        yield world


ENGINES = ["sqlite", "postgres"]


def effects_of(box: World, job: Job) -> dict[str, Any]:
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


def branch_tree(box: World, job: Job) -> str:
    client = box.github_client()
    head = client.branch_head(box.owner, box.repo, job.branch)
    return str(client.get_commit(box.owner, box.repo, head)["tree"]["sha"])
