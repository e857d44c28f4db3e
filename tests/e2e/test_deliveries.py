"""Deliveries as GitHub really sends them: redelivered, duplicated, from readers."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.core.records import JobState
from bot.emulator.world import BOT_LOGIN, World
from tests.e2e.conftest import ENGINES

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_fifty_redeliveries_and_fifty_concurrent_copies_make_one_job_each(box: World) -> None:
    box.start_server(workers=0)
    first = box.comment(box.open_issue("one"), "/farcaster rename net_price price_without_tax")
    for _ in range(50):
        assert box.gh.redeliver(first["delivery"]["id"])["status"] == 202
    second = box.comment(box.open_issue("two"), "/farcaster rename Basket ShoppingBasket")
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(
            pool.map(lambda _: box.gh.redeliver(second["delivery"]["id"])["status"], range(50))
        )
    assert statuses == [202] * 50
    jobs = box.jobs()
    assert sorted(j.command["old"] for j in jobs) == ["Basket", "net_price"]
    for job in jobs:
        assert [e.kind for e in box.store.events(job.id)] == ["created"]


def test_a_readers_command_is_refused_politely_and_makes_no_job(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue("a reader asks")
    sent = box.comment(number, "/farcaster rename net_price price_without_tax", user="bob")
    assert sent["delivery"]["status"] == 202
    box.wait_for_outbox()
    assert box.jobs() == []
    comments = box.github_client().list_issue_comments("acme", "inventory", number)
    replies = [c["body"] for c in comments if c["user"]["login"] == BOT_LOGIN]
    assert len(replies) == 1 and "@bob" in replies[0] and "write" in replies[0]


def test_help_and_unknown_commands_get_the_help_text(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue("what can it do")
    box.comment(number, "/farcaster frobnicate everything")
    box.wait_for_outbox()
    comments = box.github_client().list_issue_comments("acme", "inventory", number)
    replies = [c["body"] for c in comments if c["user"]["login"] == BOT_LOGIN]
    assert len(replies) == 1 and "/farcaster rename" in replies[0]
    assert all(j.state is JobState.QUEUED for j in box.jobs()) and box.jobs() == []
