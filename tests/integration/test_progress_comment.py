"""The status comment's phase edits (proposals/progress.py) against the fake GitHub: one
comment, edited in place, never taken back to an earlier phase or edited during a wait."""

import pytest

from bot.core.records import JobState, Phase
from bot.core.settings import Settings
from bot.store import Store
from bot.store.outbox import Outbox, OutboxItem
from bot.worker.outbox import run_item
from proposals.progress import STATUS_HANDLERS
from tests.fakes.world import ISSUE, World, apply_as_the_worker_loop_does


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


def item(world: World, state: str) -> OutboxItem:
    (found,) = world.outbox.claim("drainer", key=f"status:{world.job_id}:{state}")
    return found


def handle(world: World, claimed: OutboxItem) -> None:
    """Run the item as a drainer does, which also frees the job's comment lane."""
    run_item(world.runtime, claimed, STATUS_HANDLERS)


def status_bodies(world: World) -> list[str]:
    return [str(c["body"]) for c in world.fake.comments_on(ISSUE)]


def test_each_phase_edits_the_one_comment_in_place(world: World) -> None:
    world.enqueue()
    handle(world, item(world, "queued"))
    (queued,) = status_bodies(world)
    assert "· queued" in queued and "Accepted: waiting for a worker." in queued
    assert world.job().comment_id is not None

    world.store.claim("runner", Phase.RUN)
    handle(world, item(world, "running"))
    (running,) = status_bodies(world)
    assert "· running" in running and "ends with the pull request or a report" in running


def test_an_edit_for_a_phase_that_is_over_writes_nothing(world: World) -> None:
    world.enqueue()
    queued = item(world, "queued")
    world.store.claim("runner", Phase.RUN)  # the job moved on before the item ran
    handle(world, queued)
    assert world.fake.calls == []


def test_no_edit_while_the_job_waits_out_a_rate_limit(world: World) -> None:
    world.enqueue()
    (lease,) = world.store.claim("runner", Phase.RUN)
    running = item(world, "running")
    world.store.requeue(lease.job_id, lease.token, phase=Phase.RUN, reason="rate_limited", delay=60)
    handle(world, running)
    (queued,) = world.outbox.claim("drainer", key=f"status:{world.job_id}:queued")
    assert world.job().state is JobState.QUEUED  # scheduled: queued, run_after ahead
    handle(world, queued)
    assert world.fake.calls == []


def test_the_interpreter_shows_applying_before_its_final_write(world: World) -> None:
    world.proposed()
    job = world.apply()
    assert job.state is JobState.DONE
    # Writes to the repository; minting an installation token (the first test of a process
    # to use the installation mints one) is not one.
    writes = [
        (c[0], c[1])
        for c in world.fake.calls
        if c[0] in ("POST", "PATCH") and not c[1].endswith("/access_tokens")
    ]
    comment_writes = [w for w in writes if "/comments" in w[1]]
    assert [m for m, _ in comment_writes] == ["POST", "PATCH"]  # applying, then the PR
    assert writes.index(comment_writes[0]) == 0  # before the first git object
    (final,) = status_bodies(world)
    assert f"Opened pull request #{job.pr_number}" in final


def test_a_late_applying_edit_never_takes_the_final_comment_back(world: World) -> None:
    world.proposed()
    lease = world.claim()
    late = item(world, "applying")  # a drainer holds it, so the interpreter leaves it
    apply_as_the_worker_loop_does(world.runtime, lease)
    assert world.job().state is JobState.DONE
    (final,) = status_bodies(world)
    handle(world, late)
    assert status_bodies(world) == [final] and "Opened pull request" in final
