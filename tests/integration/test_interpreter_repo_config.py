"""The repository's .github/farcaster.yml, read at the base commit, narrows what is applied."""

import pytest

from bot.core.records import JobState
from bot.core.settings import Settings
from bot.store import Store
from bot.store.outbox import Outbox
from tests.fakes.world import BASE_FILES, RENAMED, World, git_diff


def world_with_config(store: Store, outbox: Outbox, settings: Settings, config: str) -> World:
    base = {**BASE_FILES, ".github/farcaster.yml": config.encode()}
    return World.make(store, outbox, settings, base=base)


def propose(world: World, edits: dict[str, bytes | None] = RENAMED, **job: object) -> None:
    world.enqueue(**job)
    world.propose(git_diff(BASE_FILES, edits))


def test_a_protected_path_refuses_the_proposal_before_anything_is_written(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    world = world_with_config(store, outbox, settings, "paths:\n  protected: ['app/main.py']\n")
    propose(world)

    job = world.apply()

    assert job.state is JobState.TOMBSTONED
    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "path_not_allowed"
    assert "app/main.py" in tombstone.summary
    assert sum(world.fake.created.values()) == 0


def test_the_repository_allowed_globs_apply_even_when_the_command_names_its_own(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    world = world_with_config(store, outbox, settings, "paths:\n  allowed: ['app/util.py']\n")
    command = {"name": "rename", "old": "old_name", "new": "new_name", "paths": ["app/**"]}
    propose(world, command=command)

    job = world.apply()

    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "path_not_allowed"
    assert "`app/main.py` is outside the paths .github/farcaster.yml allows" in tombstone.summary


def test_an_unreadable_config_refuses_the_job_naming_the_line(
    store: Store, outbox: Outbox, settings: Settings
) -> None:
    world = world_with_config(store, outbox, settings, "paths:\n  protectd: ['x']\n")
    propose(world)

    job = world.apply()

    tombstone = world.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "invalid_repo_config"
    assert "line 2" in tombstone.summary


@pytest.mark.parametrize("drafts_supported", [True, False])
def test_the_title_template_and_draft_setting_shape_the_pull_request(
    store: Store, outbox: Outbox, settings: Settings, drafts_supported: bool
) -> None:
    config = "pull_request:\n  draft: true\n  title: 'refactor: {old} -> {new} ({job})'\n"
    world = world_with_config(store, outbox, settings, config)
    world.fake.drafts_supported = drafts_supported
    propose(world)

    job = world.apply()

    assert job.state is JobState.DONE
    (pull,) = world.fake.pulls
    assert pull["title"] == f"refactor: old_name -> new_name ({job.id})"
    assert pull["draft"] is drafts_supported
