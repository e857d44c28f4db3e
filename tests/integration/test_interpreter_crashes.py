"""Crash the interpreter everywhere, replay, and count what reached GitHub.

In process, a crash is a BaseException that no ``except`` in the code under test catches,
raised at a fault point (after an effect was recorded) or from inside the fake GitHub right
after it did a write (before the interpreter heard of it, so before it could record it).
The e2e suite repeats this with real ``kill -9``.
"""

import pytest

from bot.core import faults
from bot.core.records import JobState
from bot.core.settings import Settings
from bot.store import Store
from bot.store.outbox import Outbox
from tests.fakes.world import BASE_FILES, ISSUE, RENAMED, World, applied


class Crash(BaseException):
    """Stands for the process dying: nothing in the interpreter catches it."""


@pytest.fixture
def world(store: Store, outbox: Outbox, settings: Settings) -> World:
    return World.make(store, outbox, settings)


def crash_at(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    def fault_point(name: str) -> None:
        if name == point:
            raise Crash(name)

    monkeypatch.setattr(faults, "fault_point", fault_point)


def assert_one_pull_request(world: World) -> None:
    job = world.job()
    fake = world.fake
    assert job.state is JobState.DONE
    for kind in ("ref", "pull", "comment", "check_run"):
        assert fake.created[kind] == 1, kind
    head = fake.refs[job.branch]
    assert fake.files_at(head) == applied(BASE_FILES, RENAMED)
    assert fake.commits[head]["parents"] == [world.base_sha]
    assert len(fake.commits) == 2  # the seed and ours: a re-made commit is the same object
    assert len(fake.comments_on(ISSUE)) == 1 and len(fake.check_runs_named(job.id)) == 1


@pytest.mark.parametrize("point", faults.INTERPRETER_POINTS)
def test_a_crash_after_any_effect_then_a_replay_makes_every_object_once(
    world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    world.proposed()
    crash_at(monkeypatch, point)
    with pytest.raises(Crash):
        world.apply()
    assert world.job().state is JobState.APPLYING  # the lease is left to expire
    monkeypatch.setattr(faults, "fault_point", lambda name: None)

    world.apply(now=world.later())  # another worker reclaims the expired lease

    assert_one_pull_request(world)
    assert world.fake.created["commit"] == 1
    assert world.fake.created["blob"] == 0  # text goes inline in the tree


GITHUB_WRITES = {
    "tree": r"/git/trees$",
    "commit": r"/git/commits$",
    "ref": r"/git/refs$",
    "pull": r"/pulls$",
    "check_run": r"/check-runs$",
    "check_run_conclusion": r"/check-runs/\d+$",
    "comment": r"/issues/\d+/comments$",
}


@pytest.mark.parametrize("path", GITHUB_WRITES.values(), ids=GITHUB_WRITES.keys())
def test_a_crash_between_a_github_write_and_its_record_still_makes_every_object_once(
    world: World, path: str
) -> None:
    world.proposed()
    method = "PATCH" if path.endswith(r"\d+$") else "POST"
    world.fake.crash_after(method, path, lambda: Crash(path))
    with pytest.raises(Crash):
        world.apply()

    world.apply(now=world.later())

    assert_one_pull_request(world)


@pytest.mark.parametrize("point", ["after_check_run", "after_comment"])
def test_a_crashed_plan_is_posted_once(
    world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    world.proposed(mode="plan")
    crash_at(monkeypatch, point)
    with pytest.raises(Crash):
        world.apply()
    monkeypatch.setattr(faults, "fault_point", lambda name: None)

    job = world.apply(now=world.later())

    assert job.state is JobState.PLANNED
    assert world.fake.created["comment"] == 1 and world.fake.created["check_run"] == 1
    assert not world.fake.pulls and world.fake.created["commit"] == 0
