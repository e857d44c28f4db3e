"""The outbox's comment lanes and batches, on SQLite and PostgreSQL.

A job's status-comment writes (its edits and its report) go one at a time, in the order
queued: two drainers holding two of them at once would each find no comment and post two.
Everything else is not held back, and a batch's items run side by side on a pool.
"""

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.app.runtime import Runtime
from bot.core.settings import Settings
from bot.core.vocab import OutboxKind
from bot.store import Database, Store
from bot.store.outbox import Outbox, OutboxItem, status_comment_key
from bot.worker.outbox import drain_outbox

STATUS, REPORT, REACTION = OutboxKind.STATUS_COMMENT, OutboxKind.JOB_REPORT, OutboxKind.REACTION


@pytest.fixture
def runtime(settings: Settings, database: Database, store: Store, outbox: Outbox) -> Runtime:
    def no_github(installation_id: int):
        raise AssertionError("these handlers do not call GitHub")

    return Runtime(settings=settings, db=database, store=store, outbox=outbox, github=no_github)


def put(outbox: Outbox, key: str, kind: str, job_id: str | None) -> None:
    assert outbox.put(key=key, kind=kind, job_id=job_id, payload={})


def keys(items: list[OutboxItem]) -> list[str]:
    return [item.key for item in items]


def test_a_jobs_comment_writes_are_handed_out_one_at_a_time_in_order(outbox):
    put(outbox, "status:j1:queued", STATUS, "j1")
    put(outbox, "status:j1:running", STATUS, "j1")
    put(outbox, "report:j1:4", REPORT, "j1")

    first = outbox.claim("w1")
    assert keys(first) == ["status:j1:queued"]
    assert outbox.claim("w2") == []  # w1 holds the lane: w2 must not post a second comment

    outbox.done_many(first)
    second = outbox.claim("w2")
    assert keys(second) == ["status:j1:running"]
    outbox.done_many(second)
    assert keys(outbox.claim("w1")) == ["report:j1:4"]


def test_a_held_lane_holds_back_only_that_jobs_comment(outbox):
    put(outbox, "status:j1:queued", STATUS, "j1")
    put(outbox, "status:j1:running", STATUS, "j1")
    put(outbox, "reaction:j1", REACTION, "j1")
    put(outbox, "status:j2:queued", STATUS, "j2")
    put(outbox, "note", "note", None)

    assert keys(outbox.claim("w1", limit=1)) == ["status:j1:queued"]
    assert keys(outbox.claim("w2")) == ["reaction:j1", "status:j2:queued", "note"]


def test_an_item_waiting_out_a_backoff_does_not_hold_the_lane(outbox):
    put(outbox, "status:j1:running", STATUS, "j1")
    put(outbox, "report:j1:4", REPORT, "j1")
    (running,) = outbox.claim("w1", limit=1)
    assert outbox.failed(running, "github_unavailable: 502", retry_after=60) == "pending"

    # The report goes; the late edit then finds the job tombstoned and writes nothing.
    assert keys(outbox.claim("w1")) == ["report:j1:4"]


def test_a_claim_by_key_waits_only_while_another_holds_the_lane(outbox):
    applying = status_comment_key("j1", "applying")
    put(outbox, status_comment_key("j1", "running"), STATUS, "j1")
    put(outbox, applying, STATUS, "j1")
    (running,) = outbox.claim("w1")

    assert outbox.claim("interpreter", key=applying) == []
    outbox.done_many([running])
    assert keys(outbox.claim("interpreter", key=applying)) == [applying]


def test_an_interpreter_holding_its_edit_holds_the_lane(outbox):
    applying = status_comment_key("j1", "applying")
    put(outbox, status_comment_key("j1", "running"), STATUS, "j1")
    put(outbox, applying, STATUS, "j1")
    assert keys(outbox.claim("interpreter", key=applying)) == [applying]

    assert outbox.claim("w1") == []


def test_done_many_marks_only_the_items_their_owner_still_holds(outbox):
    put(outbox, "a", "note", None)
    put(outbox, "b", "note", None)
    held = outbox.claim("w1")
    later = time.time() + 3600  # w1's leases have expired: w2 takes one of them over
    (retaken,) = outbox.claim("w2", limit=1, now=later)

    outbox.done_many(held)

    states = {i["key"]: (i["state"], i["lease_owner"]) for i in outbox.items()}
    assert states[retaken.key] == ("pending", "w2")
    (other,) = {"a", "b"} - {retaken.key}
    assert states[other] == ("done", None)


def test_a_batch_runs_side_by_side_on_the_pool_and_is_done_in_one_write(runtime, outbox):
    put(outbox, "status:j1:queued", STATUS, "j1")
    put(outbox, "status:j2:queued", STATUS, "j2")
    both_running = threading.Barrier(2, timeout=30)

    def handler(rt: Runtime, item: OutboxItem) -> None:
        both_running.wait()  # breaks (and fails the item) unless the other runs meanwhile

    with ThreadPoolExecutor(2) as pool:
        assert drain_outbox(runtime, "w1", {STATUS: handler}, pool=pool) == 2

    assert [i["state"] for i in outbox.items()] == ["done", "done"]


def test_two_drainers_at_once_leave_one_status_comment(runtime, outbox):
    """The race the lanes close: find the marked comment, else create it, from two threads."""
    put(outbox, "status:j1:running", STATUS, "j1")
    put(outbox, "report:j1:4", REPORT, "j1")
    comments: list[str] = []
    lock = threading.Lock()
    listed = threading.Barrier(2, timeout=2)

    def upsert(rt: Runtime, item: OutboxItem) -> None:
        with lock:
            found = bool(comments)
        # Hold the window between find and create open for the other drainer; the barrier
        # breaks when no other drainer got one of this job's items (nothing raced).
        with contextlib.suppress(threading.BrokenBarrierError):
            listed.wait()
        with lock:
            if found:
                comments[0] = item.key
            else:
                comments.append(item.key)

    handlers = {STATUS: upsert, REPORT: upsert}
    drainers = [
        threading.Thread(
            target=drain_outbox, args=(runtime, f"w{n}", handlers), kwargs={"limit": 1}
        )
        for n in (1, 2)
    ]
    for drainer in drainers:
        drainer.start()
    for drainer in drainers:
        drainer.join()
    drain_outbox(runtime, "w1", handlers)

    assert comments == ["report:j1:4"]
