"""The recovery sweep on both engines, against a scripted delivery list (no network).

GitHub's list is newest first and paged by cursor; the sweep must ask for exactly the
failed deliveries the inbox lacks, stop at its bounds, and move its watermark only after a
complete sweep.
"""

from typing import Any

import pytest
from sqlalchemy import text

from bot.core.errors import GitHubRefused
from bot.store import Database, Store
from bot.store.deliveries import Deliveries, IncomingDelivery
from bot.store.outbox import Outbox
from bot.store.recoveries import Recoveries
from webhooks.recovery import Recovery


class FakeHooks:
    """``GET /app/hook/deliveries`` over ``attempts`` (newest first), ``per_page`` a page."""

    def __init__(self, attempts: list[dict[str, Any]], per_page: int = 2) -> None:
        self.attempts = attempts
        self.per_page = per_page
        self.pages_read = 0
        self.redelivered: list[int] = []
        self.refuse: set[int] = set()

    def list_hook_deliveries(self, *, cursor: str | None = None):
        start = int(cursor or 0)
        self.pages_read += 1
        page = self.attempts[start : start + self.per_page]
        more = start + self.per_page < len(self.attempts)
        return page, (str(start + self.per_page) if more else None)

    def redeliver_hook_delivery(self, hook_delivery_id: int) -> None:
        if hook_delivery_id in self.refuse:
            raise GitHubRefused("GitHub answered 422: too old to redeliver", status=422)
        self.redelivered.append(hook_delivery_id)


def attempt(hook_id: int, guid: str, status: str = "failed to connect to host") -> dict:
    return {"id": hook_id, "guid": guid, "status": status, "event": "issue_comment"}


@pytest.fixture
def inbox(database: Database) -> Deliveries:
    return Deliveries(database, Store(database), Outbox(database))


def sweep(hooks: FakeHooks, inbox: Deliveries, **bounds: Any) -> Recovery:
    return Recovery(lambda: hooks, inbox, Recoveries(inbox.db), name="app:1", **bounds)


def test_only_failed_deliveries_the_inbox_lacks_are_redelivered_once(inbox: Deliveries) -> None:
    inbox.accept(
        IncomingDelivery("stored", "issue_comment", "created", "0" * 64, b"{}"),
        busy_timeout_ms=1000,
    )
    hooks = FakeHooks(
        [
            attempt(6, "lost-twice"),
            attempt(5, "healed", status="OK"),
            attempt(4, "stored"),
            attempt(3, "healed"),
            attempt(2, "lost-twice"),
            attempt(1, "lost-once"),
        ]
    )
    result = sweep(hooks, inbox).run()

    assert hooks.redelivered == [6, 1]  # the newest attempt of each lost delivery
    assert (result.requested, result.complete, result.pages) == (2, True, 3)
    recorded = Recoveries(inbox.db).recent()
    assert sorted(r.guid for r in recorded) == ["lost-once", "lost-twice"]
    assert Recoveries(inbox.db).watermark("app:1") == 6

    # Asked for, not arrived yet: the next sweep reads nothing older than the watermark and
    # asks for nothing again.
    again = sweep(hooks, inbox).run()
    assert again.requested == 0 and hooks.redelivered == [6, 1]


def test_a_redelivery_that_failed_again_is_asked_for_again(inbox: Deliveries) -> None:
    hooks = FakeHooks([attempt(1, "lost")])
    sweep(hooks, inbox).run()
    hooks.attempts.insert(0, attempt(2, "lost"))  # the redelivery came and failed too
    sweep(hooks, inbox).run()
    assert hooks.redelivered == [1, 2]


def test_a_sweep_cut_short_by_its_bounds_keeps_the_old_watermark(inbox: Deliveries) -> None:
    hooks = FakeHooks([attempt(n, f"g{n}") for n in range(10, 0, -1)], per_page=2)
    cut = sweep(hooks, inbox, max_pages=2, max_redeliveries=3).run()

    assert (cut.pages, cut.complete) == (2, False)
    assert len(hooks.redelivered) == 3
    assert Recoveries(inbox.db).watermark("app:1") is None
    whole = sweep(hooks, inbox, max_pages=10, max_redeliveries=100).run()
    assert whole.complete and sorted(hooks.redelivered) == list(range(1, 11))


def test_a_refused_redelivery_is_recorded_with_githubs_reason(inbox: Deliveries) -> None:
    hooks = FakeHooks([attempt(1, "too-old")])
    hooks.refuse.add(1)
    result = sweep(hooks, inbox).run()
    assert (result.requested, result.refused) == (0, 1)
    (recorded,) = Recoveries(inbox.db).recent()
    assert recorded.outcome == "redelivery_refused"
    assert "too old" in (recorded.reason or "")


def test_of_processes_sweeping_on_a_schedule_one_lists_per_interval(inbox: Deliveries) -> None:
    hooks = FakeHooks([attempt(1, "lost")])
    processes = [sweep(hooks, inbox, owner=f"process-{n}", every_seconds=300.0) for n in range(3)]
    for process in processes:  # each one's first sweep, at its start, runs regardless
        assert process.run() is not None
    started = hooks.pages_read

    within = [process.run() for process in processes]
    with inbox.db.transaction() as conn:  # the interval has passed
        conn.execute(text("UPDATE sweep_schedule SET next_at = 0"))
    after = [process.run() for process in processes]

    assert within == [None, None, None]
    assert sum(result is not None for result in after) == 1
    assert hooks.pages_read == started + 1


def test_the_next_turn_comes_when_the_interval_has_passed_whoever_took_the_last(
    inbox: Deliveries,
) -> None:
    recoveries = Recoveries(inbox.db)
    assert recoveries.take_turn("app:1", "a", every_seconds=300, now=1_000.0)
    assert not recoveries.take_turn("app:1", "a", every_seconds=300, now=1_100.0)
    assert not recoveries.take_turn("app:1", "b", every_seconds=300, now=1_299.0)
    assert recoveries.take_turn("app:1", "b", every_seconds=300, now=1_300.0)
    assert recoveries.take_turn("app:2", "a", every_seconds=300, now=1_300.0)  # its own turn
