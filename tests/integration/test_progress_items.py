"""The status comment's edits are queued by the store: at creation and at each claim, once
per job and state, and only for a job on an issue."""

from bot.core.records import NewProposal, Phase
from bot.store import Store
from bot.store.outbox import Outbox
from tests.factories import new_job

DIFF = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-a\n+b\n"


def status_keys(outbox: Outbox) -> list[str]:
    return [item["key"] for item in outbox.items(kind="status_comment")]


def test_creation_and_each_claim_queue_one_edit_per_state(store: Store, outbox: Outbox) -> None:
    store.enqueue(new_job(1, issue_number=7), now=1000.0)
    assert status_keys(outbox) == ["status:job0001:queued"]
    assert len(store.claim("w1", Phase.RUN, now=1000.0)) == 1
    (again,) = store.claim("w2", Phase.RUN, now=1031.0)  # the first lease expired
    proposal = NewProposal("a" * 40, DIFF, "rename", "1")
    store.store_proposal(again.job_id, again.token, proposal, now=1031.0)
    store.claim("i1", Phase.APPLY, now=1032.0)
    assert status_keys(outbox) == [
        "status:job0001:queued",
        "status:job0001:running",
        "status:job0001:applying",
    ]
    (item,) = [i for i in outbox.items(kind="status_comment") if i["key"].endswith(":running")]
    assert item["job_id"] == "job0001" and item["payload"] == {"state": "running"}


def test_a_job_on_no_issue_has_no_status_comment(store: Store, outbox: Outbox) -> None:
    store.enqueue(new_job(2), now=1000.0)
    store.claim("w1", Phase.RUN, now=1000.0)
    assert status_keys(outbox) == []


def test_a_job_claims_its_own_item_by_key_unless_someone_holds_it(
    store: Store, outbox: Outbox
) -> None:
    store.enqueue(new_job(3, issue_number=7), now=1000.0)
    key = "status:job0003:queued"
    (mine,) = outbox.claim("w1", key=key, now=2000.0)
    assert mine.key == key
    assert outbox.claim("w2", key=key, now=2000.0) == []  # leased by w1
    outbox.done(mine)
    assert outbox.claim("w2", key=key, now=2000.0) == []  # done
