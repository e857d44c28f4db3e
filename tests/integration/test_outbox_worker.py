"""Draining the outbox: done, retried, parked as dead; on SQLite and PostgreSQL."""

from collections.abc import Callable

import pytest

from bot.app.runtime import Runtime
from bot.core.errors import ConfigurationError, GitHubRefused, GitHubUnavailable, RateLimited
from bot.core.settings import Settings
from bot.store import Database, Store
from bot.store.outbox import MAX_OUTBOX_ATTEMPTS, Outbox, OutboxItem
from bot.worker.outbox import drain_outbox, run_item


@pytest.fixture
def runtime(settings: Settings, database: Database, store: Store, outbox: Outbox) -> Runtime:
    def no_github(installation_id: int):
        raise AssertionError("these handlers do not call GitHub")

    return Runtime(settings=settings, db=database, store=store, outbox=outbox, github=no_github)


def row(outbox: Outbox, key: str) -> dict:
    (item,) = [i for i in outbox.items() if i["key"] == key]
    return item


def now(database: Database) -> float:
    with database.engine.connect() as conn:
        return database.now(conn)


def recorder() -> tuple[list[str], Callable[[Runtime, OutboxItem], None]]:
    seen: list[str] = []

    def handler(runtime: Runtime, item: OutboxItem) -> None:
        seen.append(item.key)

    return seen, handler


def raising(exc: Exception) -> Callable[[Runtime, OutboxItem], None]:
    def handler(runtime: Runtime, item: OutboxItem) -> None:
        raise exc

    return handler


def test_each_due_item_runs_once_and_is_done(runtime, outbox):
    outbox.put(key="a", kind="note", job_id=None, payload={"n": 1})
    outbox.put(key="b", kind="note", job_id=None, payload={"n": 2})
    seen, handler = recorder()
    assert drain_outbox(runtime, "w1", {"note": handler}) == 2
    assert seen == ["a", "b"]
    assert {i["key"]: i["state"] for i in outbox.items()} == {"a": "done", "b": "done"}
    assert drain_outbox(runtime, "w1", {"note": handler}) == 0
    assert seen == ["a", "b"]


def test_the_handler_receives_the_payload(runtime, outbox):
    outbox.put(key="a", kind="note", job_id="j1", payload={"repo": "o/r", "n": 7})
    received: list[OutboxItem] = []
    drain_outbox(runtime, "w1", {"note": lambda rt, item: received.append(item)})
    assert received[0].payload == {"repo": "o/r", "n": 7}
    assert received[0].job_id == "j1"


def test_drain_claims_at_most_limit_items(runtime, outbox):
    for n in range(5):
        outbox.put(key=f"k{n}", kind="note", job_id=None, payload={})
    seen, handler = recorder()
    assert drain_outbox(runtime, "w1", {"note": handler}, limit=2) == 2
    assert drain_outbox(runtime, "w1", {"note": handler}, limit=10) == 3
    assert sorted(seen) == [f"k{n}" for n in range(5)]


def test_an_item_claimed_by_one_drainer_is_not_run_by_another(runtime, outbox):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    claimed = outbox.claim("w1")
    seen, handler = recorder()
    assert drain_outbox(runtime, "w2", {"note": handler}) == 0
    assert seen == []
    assert len(claimed) == 1


def test_an_unknown_kind_is_parked_as_dead_at_once(runtime, outbox):
    outbox.put(key="a", kind="mystery", job_id=None, payload={})
    assert drain_outbox(runtime, "w1", {"note": recorder()[1]}) == 1
    item = row(outbox, "a")
    assert item["state"] == "dead"
    assert item["attempts"] == 1
    assert "no handler" in item["last_error"]


def test_a_rate_limit_waits_for_githubs_retry_after(runtime, outbox, database):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    before = now(database)
    limited = RateLimited("GitHub rate limit", retry_after=120.0, status=403)
    drain_outbox(runtime, "w1", {"note": raising(limited)})
    item = row(outbox, "a")
    assert item["state"] == "pending"
    assert 119.0 <= item["run_after"] - before <= 130.0
    assert item["last_error"].startswith("rate_limited")
    assert item["lease_owner"] is None
    assert item["attempts"] == 0  # waiting for GitHub is not a failed try


def test_rate_limits_never_park_an_item_as_dead(runtime, outbox):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    limited = RateLimited("GitHub rate limit", retry_after=1.0, status=403)
    for n in range(12):  # more than the attempts an item gets for real failures
        (item,) = outbox.claim("w1", now=10.0**10 + n * 10)
        assert run_item(runtime, item, {"note": raising(limited)}) == "pending"
    assert row(outbox, "a")["state"] == "pending"


def test_github_unavailable_is_retried_later_with_backoff(runtime, outbox, database):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    before = now(database)
    drain_outbox(runtime, "w1", {"note": raising(GitHubUnavailable("GitHub answered 502"))})
    item = row(outbox, "a")
    assert item["state"] == "pending"
    assert item["run_after"] > before
    assert "502" in item["last_error"]
    # Not due yet: a second drain right away leaves it alone.
    assert drain_outbox(runtime, "w1", {"note": recorder()[1]}) == 0


def test_a_refusal_by_github_is_parked_as_dead_at_once(runtime, outbox):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    drain_outbox(runtime, "w1", {"note": raising(GitHubRefused("404 Not Found", status=404))})
    assert row(outbox, "a")["state"] == "dead"


def test_a_configuration_error_is_parked_as_dead(runtime, outbox):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    drain_outbox(runtime, "w1", {"note": raising(ConfigurationError("no private key"))})
    assert row(outbox, "a")["state"] == "dead"


def test_a_crashing_handler_does_not_stop_the_next_item(runtime, outbox):
    outbox.put(key="a", kind="bad", job_id=None, payload={})
    outbox.put(key="b", kind="note", job_id=None, payload={})
    seen, handler = recorder()
    assert drain_outbox(runtime, "w1", {"bad": raising(KeyError("repo")), "note": handler}) == 2
    assert seen == ["b"]
    assert row(outbox, "a")["state"] == "pending"
    assert "KeyError" in row(outbox, "a")["last_error"]
    assert row(outbox, "b")["state"] == "done"


def test_an_item_failing_every_time_ends_dead_after_the_last_attempt(runtime, outbox, database):
    outbox.put(key="a", kind="note", job_id=None, payload={})
    failing = {"note": raising(GitHubUnavailable("down"))}
    for _ in range(MAX_OUTBOX_ATTEMPTS):
        # Time is injected: claim as if far in the future instead of sleeping the backoff.
        (item,) = outbox.claim("w1", now=now(database) + 10_000)
        run_item(runtime, item, failing)
    assert row(outbox, "a")["state"] == "dead"
    assert row(outbox, "a")["attempts"] == MAX_OUTBOX_ATTEMPTS
