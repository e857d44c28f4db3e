"""Two interpreters on one job: the one paused past its lease is fenced off.

Interpreter A runs in a thread and is held at a chosen point; its lease runs out (the
claim of B passes a later ``now``), B takes the job over and finishes it, then A resumes.
Whatever A does next is refused, so GitHub sees one of everything.
"""

import threading

import pytest

from bot.core import faults
from bot.core.errors import LeaseLost, StaleFencingToken
from bot.core.records import JobState, Lease
from bot.core.settings import Settings
from bot.store import Store
from bot.store.outbox import Outbox
from bot.worker.leases import LeaseGuard
from proposals.interpreter import apply_job
from tests.fakes.world import World

A = "interpreter-a"


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


class Paused:
    """A thread running interpreter A until it reaches ``paused``; ``resume()`` lets it go."""

    def __init__(self, world: World) -> None:
        self.paused = threading.Event()
        self._go = threading.Event()
        self.outcome: str | None = None
        self.lease: Lease = world.claim(owner="a")
        self._thread = threading.Thread(target=self._run, args=(world,), name=A)

    def hold(self, *_: object) -> None:
        if threading.current_thread().name == A:
            self.paused.set()
            assert self._go.wait(10)

    def start(self) -> None:
        self._thread.start()
        assert self.paused.wait(10), "interpreter A never reached its pause"

    def _run(self, world: World) -> None:
        try:
            apply_job(world.runtime, self.lease, LeaseGuard(self.lease))
            self.outcome = "finished"
        except (LeaseLost, StaleFencingToken) as exc:
            self.outcome = type(exc).__name__

    def resume(self) -> str | None:
        self._go.set()
        self._thread.join(10)
        return self.outcome


def take_over(world: World) -> None:
    """Interpreter B: A's lease has expired by B's clock; B claims the job and finishes it."""
    lease = world.claim(now=world.later(60), owner="b")
    apply_job(world.runtime, lease, LeaseGuard(lease))
    assert world.job().state is JobState.DONE


def assert_one_of_each(world: World) -> None:
    for kind in ("ref", "commit", "pull", "comment", "check_run"):
        assert world.fake.created[kind] == 1, kind


@pytest.mark.parametrize(
    "point", ["after_tree_chunk", "after_commit", "after_ref", "after_pr", "after_check_run"]
)
def test_an_interpreter_paused_between_effects_is_refused_after_another_took_over(
    world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    world.proposed()
    a = Paused(world)

    def hold_a_at_point(name: str) -> None:
        if name == point:
            a.hold()

    monkeypatch.setattr(faults, "fault_point", hold_a_at_point)
    a.start()

    take_over(world)

    assert a.resume() in ("LeaseLost", "StaleFencingToken")
    assert world.job().state is JobState.DONE
    assert_one_of_each(world)


def test_a_pull_request_create_delayed_past_the_lease_does_not_open_a_second_one(
    world: World,
) -> None:
    """A was inside its POST /pulls when it stalled; GitHub's one-open-PR-per-head rule and
    the lookup after its 422 keep it to one, and A's record of it is refused."""
    world.proposed()
    a = Paused(world)
    world.fake.pause("POST", r"/pulls$", a.hold)
    a.start()

    take_over(world)

    assert a.resume() == "StaleFencingToken"
    assert_one_of_each(world)
    assert "fenced_write_rejected" in world.event_kinds()
