"""Crash at every fault point, then start fresh processes: still exactly one of each effect.

A worker started with ``FARCASTER_FAULT=<point>`` dies there like ``kill -9`` (exit 137).
A fresh worker reclaims the job when the lease runs out and finishes it. GitHub's side is
then counted from the emulator: one PR, one branch with one commit, one check run, one
status comment, and the PR's tree equals the tree of an uninterrupted run of the same
command on the same base. Each fault point (on each engine) is a test of its own, in a
world of its own, so a parallel run (pytest-xdist) spreads them over its workers.
"""

import random
import signal
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from bot.core.faults import ALL_POINTS, FAULT_EXIT_STATUS
from bot.core.records import JobState
from bot.emulator.world import World, wait_until
from tests.e2e.conftest import ENGINES, ONE_OF_EACH, branch_tree, effects_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.short_lease]
COMMAND = "/farcaster rename net_price price_without_tax"


def run_job_through(box: World, fault: str | None) -> str:
    """One command handled by a worker that dies at ``fault``, then by a fresh worker."""
    before = {j.id for j in box.jobs()}
    number = box.open_issue(f"crash at {fault}")
    if fault:
        doomed = box.start_worker(f"doomed-{fault}", fault=fault)
    box.comment(number, COMMAND)
    (job,) = [j for j in box.jobs() if j.id not in before]
    if fault:
        doomed.wait(timeout=60)
        assert doomed.returncode == FAULT_EXIT_STATUS, box.log(f"doomed-{fault}")
    box.start_worker(f"fresh-{fault}")
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=60)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    return job.id


@pytest.fixture(scope="session")
def uninterrupted_tree(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tree SHA of the command run once without a fault, in a world of its own.

    Once per session, not once per fault point: git tree SHAs are content-addressed, so the
    same command on the same sample repository yields the same tree in every world (commit
    SHAs differ, trees do not), on either engine and whatever the tree chunk bounds. Each
    fault point's test compares its own world's tree with this one. Under pytest-xdist each
    worker process has a session of its own and computes it once.
    """
    box = World.start(tmp_path_factory.mktemp("uninterrupted") / "world", lease_seconds=2.0)
    try:
        box.start_server(workers=0)
        yield branch_tree(box, box.store.get(run_job_through(box, None)))
    finally:
        box.close()


def scraped_metrics(box: World) -> dict[str, float]:
    """What an operator's dashboard shows, scraped from the running server's /metrics."""
    metrics = httpx.get(f"http://127.0.0.1:{box.server_port}/metrics", timeout=10).text
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }


@pytest.mark.parametrize("point", ALL_POINTS)
@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_a_worker_killed_at_each_fault_point_still_yields_one_of_each_effect(
    box: World, point: str, uninterrupted_tree: str
) -> None:
    box.start_server(workers=0)
    # Every tree request carries one entry, so the proposal's tree takes several chunks
    # and `after_tree_chunk` kills a worker between two of them.
    box.settings_env["FARCASTER_TREE_CHUNK_ENTRIES"] = "1"
    job = box.store.get(run_job_through(box, point))

    assert effects_of(box, job) == ONE_OF_EACH
    assert branch_tree(box, job) == uninterrupted_tree
    events = box.store.events(job.id)
    chunks = [e for e in events if e.kind == "effect" and e.data["step"].startswith("tree:")]
    assert len(chunks) >= 3
    if point == "after_tree_chunk":  # the doomed worker recorded one chunk, then died
        assert len({e.fencing_token for e in chunks}) == 2
        assert [e.fencing_token for e in chunks].count(chunks[0].fencing_token) == 1
    owners = {e.data["owner"] for e in events if e.kind == "claimed"}
    assert owners == {f"doomed-{point}", f"fresh-{point}"}
    # A worker that died holding the lease leaves it to expire; one that died right after
    # storing its proposal held no lease any more.
    held_a_lease = point != "after_proposal"
    assert any(e.kind == "lease_expired" for e in events) is held_a_lease

    # What an operator's dashboard shows after that, scraped from the running server.
    series = scraped_metrics(box)
    assert series["farcaster_lease_expiries_total"] == int(held_a_lease)
    assert series["farcaster_lease_reclaims_total"] == int(held_a_lease)
    assert series['farcaster_jobs{state="done"}'] == 1
    assert series["farcaster_fenced_write_rejections_total"] == 0
    # Intake accepts first and triage decides: one accepted delivery and one job.
    accepted = 'farcaster_webhook_deliveries_total{event="issue_comment",outcome="accepted"}'
    assert series[accepted] == 1
    assert series['farcaster_delivery_decisions{outcome="job_created"}'] == 1


def test_sigkill_at_random_moments_over_twenty_runs(
    box: World, record_property: Callable[[str, object], None]
) -> None:
    """Every job ends done, or as a tombstone with its report; nothing is ever made twice.

    A job whose leases run out too often (a busy machine, unlucky kills) is tombstoned by
    design: that is the promise too, so tombstones are counted and reported, not failed.
    """
    box.start_server(workers=0)
    rng = random.Random(20261130)
    numbers = [box.open_issue(f"run {n}") for n in range(20)]
    for number in numbers:
        box.comment(number, COMMAND)
    jobs = box.jobs()
    assert len(jobs) == 20
    kills = 0
    generation = 0

    def all_done() -> bool:
        return all(box.store.get(j.id).state.is_final for j in jobs)

    workers = [box.start_worker(f"w{generation}-{i}", concurrency=2) for i in range(2)]
    deadline = time.monotonic() + 240
    while not all_done() and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.3, 1.5))  # a random moment, not a synchronisation
        victim = rng.choice(workers)
        if victim.poll() is None and kills < 12:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills += 1
            generation += 1
            workers[workers.index(victim)] = box.start_worker(f"w{generation}", concurrency=2)
    wait_until(all_done, timeout=120, what="all twenty jobs to finish")
    box.wait_for_outbox()
    assert kills >= 5
    finished = [box.store.get(job.id) for job in jobs]
    done = [job for job in finished if job.state is JobState.DONE]
    tombstoned = [job for job in finished if job.state is JobState.TOMBSTONED]
    assert len(done) + len(tombstoned) == len(jobs), [(j.id, j.state) for j in finished]
    assert done, "no job survived the kills"
    expected_tree = branch_tree(box, done[0])
    for job in done:
        assert effects_of(box, job) == ONE_OF_EACH, job.id
        assert branch_tree(box, job) == expected_tree
    reasons = []
    for job in tombstoned:
        tombstone = box.store.tombstone(job.id)
        assert tombstone is not None and tombstone.comment_id is not None, job.id
        reasons.append(tombstone.reason_code)
        effects = effects_of(box, job)
        assert effects["status_comments"] == 1, (job.id, effects)  # the report, once
        assert effects["pulls"] <= 1 and effects["commits"] <= 1, (job.id, effects)
        assert effects["check_runs"] <= 1, (job.id, effects)
    record_property("tombstones", len(tombstoned))
    print(f"{kills} kills: {len(done)} jobs done, {len(tombstoned)} tombstoned {sorted(reasons)}")
