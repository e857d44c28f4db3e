"""The shared write bucket per installation (both engines), and what a job does when it is empty."""

import threading

from bot.core.errors import Paced
from bot.core.records import JobState, display_state
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Database, Store
from bot.store.outbox import Outbox
from bot.store.pacing import Bucket, Pacing
from tests.fakes.world import _TOKENS, BASE_FILES, INSTALLATION, RENAMED, World, applied

T0 = 1_800_000_000.0


def test_a_full_bucket_lets_its_burst_through_then_asks_to_wait(database: Database) -> None:
    pacing = Pacing(database, Bucket(rate=1.0, burst=3), jitter=lambda: 0.0)
    assert [pacing.take(7, now=T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacing.take(7, now=T0) == 1.0  # nothing taken: a token in one second
    assert pacing.take(7, now=T0 + 0.5) == 0.5
    assert pacing.take(8, now=T0) == 0.0  # another installation has its own bucket
    assert pacing.take(7, now=T0 + 1.0) == 0.0
    assert pacing.fill(now=T0 + 1.0) == {7: 0.0, 8: 3.0}
    assert pacing.fill(now=T0 + 60) == {7: 3.0, 8: 3.0}  # never more than the burst


def test_concurrent_takers_never_get_more_than_the_bucket_holds(database: Database) -> None:
    pacing = Pacing(database, Bucket(rate=0.001, burst=20))
    granted: list[float] = []
    lock = threading.Lock()

    def taker() -> None:
        for _ in range(10):
            wait = pacing.take(9, now=T0)
            with lock:
                granted.append(wait)

    threads = [threading.Thread(target=taker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(0.0) == 20 and len(granted) == 60


def paced_world(
    store: Store, outbox: Outbox, settings: Settings, clock: list[float], burst: int = 3
) -> World:
    """The fake GitHub, its client pacing writes through a bucket of ``burst``, refilled 1 a
    minute."""
    world = World.make(store, outbox, settings)
    pacing = Pacing(store.db, Bucket(rate=1 / 60, burst=burst), jitter=lambda: 0.0)

    def pace() -> None:
        wait = pacing.take(INSTALLATION, now=clock[0])
        if wait > 0:
            raise Paced(f"next write in {wait:.0f} s", retry_after=wait)

    client = GitHubClient.for_installation(
        settings, INSTALLATION, transport=world.fake.transport(), cache=_TOKENS, pace=pace
    )
    world.runtime.github = lambda _installation: client
    return world


def test_an_empty_bucket_schedules_the_job_and_it_resumes_where_it_stopped(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    clock = [T0]
    world = paced_world(store, outbox, settings, clock)
    world.proposed()
    attempts = world.job().attempts

    job = world.apply()

    # Three writes went out (the status comment's "applying" edit, the tree, the commit);
    # the fourth, the branch, was never sent.
    assert job.state is JobState.PROPOSED and job.attempts == attempts
    assert display_state(job, now=job.updated_at) == "scheduled"
    assert job.run_after >= job.updated_at + 59
    assert world.event_kinds()[-1] == "paced"
    sent = [c[1] for c in world.fake.calls if c[0] in ("POST", "PATCH")]
    assert [p.rsplit("/", 1)[-1] for p in sent if p.startswith("/repos/")] == [
        "comments",
        "trees",
        "commits",
    ]

    for _ in range(5):
        if world.job().state is JobState.DONE:
            break
        clock[0] += 180  # three more tokens
        world.apply(now=world.later(600 * (_ + 1)))
    job = world.job()
    assert job.state is JobState.DONE
    assert world.fake.created["tree"] == 1 and world.fake.created["commit"] == 1
    assert world.fake.files_at(world.fake.refs[job.branch]) == applied(BASE_FILES, RENAMED)
    assert not [c for c in world.fake.calls if c[2] == 403]  # GitHub never had to refuse


def test_the_bucket_fill_is_a_metric(store: Store) -> None:
    from prometheus_client import generate_latest

    from bot.observe.metrics import build_registry

    pacing = Pacing(store.db, Bucket(rate=0.001, burst=10))
    pacing.take(INSTALLATION)
    text = generate_latest(build_registry(store, pacing)).decode()
    (line,) = [x for x in text.splitlines() if x.startswith("farcaster_pacing_tokens{")]
    assert line.startswith(f'farcaster_pacing_tokens{{installation="{INSTALLATION}"}} 9.0')


def test_a_job_resumed_after_a_long_wait_checks_drift_again_before_its_branch(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    clock = [T0]
    world = paced_world(store, outbox, settings, clock, burst=1)
    world.proposed()
    assert world.apply().state is JobState.PROPOSED  # the "applying" edit; then it waited
    clock[0] += 120
    assert world.apply(now=world.later(300)).state is JobState.PROPOSED  # the tree; waited
    assert world.fake.created["tree"] == 1 and world.fake.created["commit"] == 0
    new_head = world.fake.push("main", {"app/util.py": b"def old_name(x):\n    return x + x\n"})

    for minutes in (10, 20, 30):  # the commit, then (the base looked at again) no branch
        if world.job().state is not JobState.PROPOSED:
            break
        clock[0] += 120
        world.apply(now=world.later(60 * minutes))
    job = world.job()

    assert job.state is JobState.QUEUED and job.base_sha == new_head
    assert world.fake.created["commit"] == 1 and world.fake.created["ref"] == 0
    assert not world.fake.pulls
