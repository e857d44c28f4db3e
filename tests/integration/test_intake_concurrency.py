"""Concurrent copies of a delivery: exactly one job, on SQLite and PostgreSQL.

200 copies are sent from 20 threads released together by a barrier, through the real app
(TestClient runs it on one event loop; the inbox work runs in its thread pool, so the
database sees truly concurrent transactions). Then four triage loops with their own lease
owners decide what was stored, at the same time.
"""

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.integration.test_intake_support import (
    comment_payload,
    drain,
    headers_for,
)
from webhooks.triage import Triage

COPIES = 200
THREADS = 20


def send_concurrently(intake, requests: list[tuple[bytes, dict[str, str]]]) -> list:
    barrier = threading.Barrier(THREADS)
    per_thread = [requests[n::THREADS] for n in range(THREADS)]

    def worker(batch):
        barrier.wait()
        return [
            intake.client.post("/api/github/webhooks", content=body, headers=headers)
            for body, headers in batch
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, per_thread))
    return [response for batch in results for response in batch]


def triage_concurrently(intake, loops: int = 4) -> int:
    context, router = intake.triage.context, intake.triage.router
    triages = [Triage(context, router, f"triage-{n}") for n in range(loops)]
    with ThreadPoolExecutor(loops) as pool:
        return sum(pool.map(drain, triages))


def test_two_hundred_copies_of_one_delivery_make_exactly_one_job(intake):
    body = json.dumps(comment_payload("/farcaster rename a b")).encode()
    headers = headers_for(body, "issue_comment", delivery_id="the-one-delivery")

    responses = send_concurrently(intake, [(body, headers)] * COPIES)

    assert Counter(r.status_code for r in responses) == {202: COPIES}
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    assert triage_concurrently(intake) == 1
    counts = intake.counts()
    # One job: its 👀 reaction and its status comment are the outbox's two items.
    assert counts == {"deliveries": 1, "jobs": 1, "job_events": 1, "outbox": 2}
    (delivery,) = intake.deliveries()
    assert delivery["outcome"] == "job_created"
    assert intake.runtime.store.get(delivery["job_id"]).state.value == "queued"


def test_two_hundred_deliveries_about_one_comment_make_exactly_one_job(intake):
    body = json.dumps(comment_payload("/farcaster rename a b")).encode()
    requests = [(body, headers_for(body, "issue_comment", f"d-{n}")) for n in range(COPIES)]

    responses = send_concurrently(intake, requests)

    assert Counter(r.status_code for r in responses) == {202: COPIES}
    assert triage_concurrently(intake) == COPIES
    assert len({d["job_id"] for d in intake.deliveries()}) == 1
    outcomes = Counter(d["outcome"] for d in intake.deliveries())
    assert outcomes == {"job_created": 1, "job_exists": COPIES - 1}
    counts = intake.counts()
    assert (counts["jobs"], counts["job_events"], counts["outbox"]) == (1, 1, 2)


class WaitingForAnother(Triage):
    """Decides a delivery only once another delivery is being decided at the same time."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.both = threading.Barrier(2, timeout=10)

    def _decide(self, claimed):
        self.both.wait()  # breaks, and the delivery is put off, unless they run side by side
        return super()._decide(claimed)


def test_one_triage_decides_a_passs_deliveries_side_by_side_on_its_pool(intake):
    requests = []
    for n in (1, 2):
        body = json.dumps(comment_payload("/farcaster rename a b", comment_id=900 + n)).encode()
        requests.append((body, headers_for(body, "issue_comment", f"d-{n}")))
    send_concurrently(intake, requests)
    context, router = intake.triage.context, intake.triage.router

    with ThreadPoolExecutor(2) as pool:
        assert WaitingForAnother(context, router, "triage", pool=pool).run_once() == 2

    assert Counter(d["outcome"] for d in intake.deliveries()) == {"job_created": 2}


def test_deliveries_about_one_comment_in_one_pooled_pass_make_exactly_one_job(intake):
    body = json.dumps(comment_payload("/farcaster rename a b")).encode()
    requests = [(body, headers_for(body, "issue_comment", f"d-{n}")) for n in range(40)]
    send_concurrently(intake, requests)
    context, router = intake.triage.context, intake.triage.router

    with ThreadPoolExecutor(4) as pool:
        drain(Triage(context, router, "triage", pool=pool))

    outcomes = Counter(d["outcome"] for d in intake.deliveries())
    assert outcomes == {"job_created": 1, "job_exists": 39}
    assert intake.counts()["jobs"] == 1
