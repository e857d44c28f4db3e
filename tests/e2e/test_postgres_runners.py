"""The many-machine shape: PostgreSQL, one `serve`, two `worker` processes."""

from pathlib import Path

import pytest

from bot.core.records import JobState
from bot.emulator.world import World, wait_until
from tests.databases import fresh_pg_database
from tests.e2e.conftest import ONE_OF_EACH, effects_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.postgres]

COMMANDS = [
    "/farcaster rename net_price price_without_tax",
    "/farcaster rename Basket ShoppingBasket",
    "/farcaster rename basket_report describe_basket",
    "/farcaster replace 'tax' 'duty' --path 'inventory/*.py'",
    "/farcaster rename GiftBasket FreeBasket",
    "/farcaster rename audit cross_check",
]


def test_two_postgres_backed_workers_make_one_pr_per_job(tmp_path: Path) -> None:
    with fresh_pg_database("farcaster_e2e") as url:
        box = World.start(tmp_path / "world", database_url=url, lease_seconds=2.0)
        try:
            box.start_server(workers=0)
            box.start_worker("machine-a", concurrency=2)
            box.start_worker("machine-b", concurrency=2)
            for n, command in enumerate(COMMANDS):
                box.comment(box.open_issue(f"job {n}"), command)
            jobs = box.jobs()
            assert len(jobs) == len(COMMANDS)
            wait_until(
                lambda: all(box.store.get(j.id).state.is_final for j in jobs),
                timeout=120,
                what="every job to finish",
            )
            box.wait_for_outbox()
            owners = set()
            for job in jobs:
                job = box.store.get(job.id)
                assert job.state is JobState.DONE, (job.command, job.last_error)
                assert effects_of(box, job) == ONE_OF_EACH
                owners |= {e.data["owner"] for e in box.store.events(job.id) if e.kind == "claimed"}
            assert owners <= {"machine-a", "machine-b"}
        finally:
            box.close()
