"""/metrics as an operator scrapes it: series computed from a real store on both engines."""

import time
from pathlib import Path

import httpx
import pytest
from githubkit import GitHub
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.errors import GitHubRefused, StaleFencingToken
from bot.core.records import Failure, NewProposal, Phase
from bot.github.client import GitHubClient
from bot.observe.metrics import (
    JOB_STATES,
    build_registry,
    install_agent_metrics,
    install_github_call_metrics,
    observe_agent_duration,
    register_store_metrics,
    serve_metrics,
)
from bot.store import Database, Store
from bot.store.outbox import MAX_OUTBOX_ATTEMPTS, Outbox
from tests.factories import new_job

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(registry: CollectorRegistry) -> Series:
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    return series[(name, frozenset(labels.items()))]


def make_history(store: Store, outbox: Outbox) -> None:
    """One job of each kind of trouble an operator wants to see, near the real clock
    (the scrape reads the database clock to tell scheduled jobs from queued ones)."""
    now = time.time()
    outbox.put(key="reply:1", kind="reply", job_id=None, payload={})
    for n in range(MAX_OUTBOX_ATTEMPTS):
        (item,) = outbox.claim("w", limit=1, now=now + 10_000 * (n + 1))
        outbox.failed(item, "GitHub keeps refusing")

    for n in range(1, 6):
        store.enqueue(new_job(n), now=now)
    store.enqueue(new_job(6, max_attempts=1), now=now)

    # job0001: its worker stops answering; another worker reclaims it; the first wakes up.
    (stale,) = store.claim("w1", Phase.RUN, limit=1, now=now)
    (fresh,) = store.claim("w2", Phase.RUN, limit=1, now=now + 31)
    assert stale.job_id == fresh.job_id == "job0001"
    with pytest.raises(StaleFencingToken):
        store.store_proposal(stale.job_id, stale.token, NewProposal("a" * 40, "", "rename", "1"))

    # job0002: a retryable failure waits out a backoff; job0003 is refused for good.
    (lease,) = store.claim("w", Phase.RUN, limit=1, now=now + 40)
    store.fail(lease.job_id, lease.token, Failure("flaky", "later", True, retry_after=600))
    (lease,) = store.claim("w", Phase.RUN, limit=1, now=now + 41)
    store.fail(lease.job_id, lease.token, Failure("invalid_diff", "no", retryable=False))

    # job0004: GitHub's rate limit; the job waits without losing an attempt.
    (lease,) = store.claim("w", Phase.RUN, limit=1, now=now + 42)
    store.requeue(
        lease.job_id,
        lease.token,
        phase=Phase.RUN,
        reason="rate_limited",
        delay=900,
    )

    # job0006 (one attempt allowed): its worker dies on the last attempt; the reaper buries it.
    leases = store.claim("w", Phase.RUN, limit=5, now=now + 43)
    assert [lease.job_id for lease in leases] == ["job0005", "job0006"]
    store.fail("job0005", leases[0].token, Failure("flaky", "x", True, retry_after=0.0))
    assert store.reap_expired(now=now + 100) == ["job0006"]


def test_store_series_count_jobs_trouble_and_backlog(store: Store, outbox: Outbox) -> None:
    make_history(store, outbox)
    registry = CollectorRegistry()
    register_store_metrics(registry, store)
    series = scrape(registry)

    jobs = {state: value(series, "farcaster_jobs", state=state) for state in JOB_STATES}
    assert jobs == {
        "queued": 1,  # job0005, runnable now
        "scheduled": 2,  # job0002 (backoff) and job0004 (rate limit)
        "running": 1,  # job0001, held by w2
        "proposed": 0,
        "applying": 0,
        "planned": 0,
        "done": 0,
        "tombstoned": 2,
        "cancelled": 0,
    }
    assert value(series, "farcaster_job_claims_total") == 7
    assert value(series, "farcaster_lease_expiries_total") == 2  # one reclaimed, one reaped
    assert value(series, "farcaster_lease_reclaims_total") == 1
    assert value(series, "farcaster_fenced_write_rejections_total") == 1
    assert value(series, "farcaster_rate_limit_waits_total") == 1
    assert value(series, "farcaster_tombstones_total", reason="invalid_diff") == 1
    assert value(series, "farcaster_tombstones_total", reason="lease_expired") == 1
    assert value(series, "farcaster_outbox_items", state="dead") == 1
    assert value(series, "farcaster_outbox_items", state="pending") == 2  # the two reports
    assert 0 <= value(series, "farcaster_oldest_ready_job_age_seconds") < 60
    assert value(series, "farcaster_store_up") == 1


def test_an_empty_store_exposes_every_series_at_zero(store: Store) -> None:
    series = scrape(build_registry(store))
    assert value(series, "farcaster_jobs", state="queued") == 0
    assert value(series, "farcaster_jobs", state="scheduled") == 0
    assert value(series, "farcaster_lease_expiries_total") == 0
    assert value(series, "farcaster_outbox_items", state="dead") == 0
    assert value(series, "farcaster_oldest_ready_job_age_seconds") == 0


def test_every_replica_sees_the_same_counts(store: Store, db_url: str) -> None:
    store.enqueue(new_job(1))
    other_machine = Store(Database.from_url(db_url))
    registry = CollectorRegistry()
    register_store_metrics(registry, other_machine)
    try:
        assert value(scrape(registry), "farcaster_jobs", state="queued") == 1
        store.enqueue(new_job(2))
        assert value(scrape(registry), "farcaster_jobs", state="queued") == 2
    finally:
        other_machine.db.dispose()


def test_an_unreadable_store_gives_store_up_zero_not_a_failed_scrape(tmp_path: Path) -> None:
    broken = Store(Database.from_url(f"sqlite:///{tmp_path}/missing/dir/farcaster.db"))
    registry = CollectorRegistry()
    register_store_metrics(registry, broken)
    series = scrape(registry)
    assert value(series, "farcaster_store_up") == 0
    assert not any(name == "farcaster_jobs" for name, _ in series)


def test_github_calls_are_counted_and_timed_by_endpoint_and_status() -> None:
    registry = CollectorRegistry()
    install_github_call_metrics(registry)
    install_github_call_metrics(registry)  # twice is harmless: each call counted once

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/repos/octo/widgets":
            return httpx.Response(200, json={"full_name": "octo/widgets"})
        return httpx.Response(404, json={"message": "Not Found"})

    gh = GitHub("ghs_test", base_url="http://github.test/", transport=httpx.MockTransport(answer))
    client = GitHubClient(gh)
    client.get_repo("octo", "widgets")
    client.get_repo("octo", "widgets")
    with pytest.raises(GitHubRefused):
        client.get_commit("octo", "widgets", "deadbeef")

    series = scrape(registry)
    ok = {"method": "GET", "endpoint": "/repos/{}/{}", "status": "200"}
    assert value(series, "farcaster_github_calls_total", **ok) == 2
    missing = {"method": "GET", "endpoint": "/repos/{}/{}/git/commits/{}", "status": "404"}
    assert value(series, "farcaster_github_calls_total", **missing) == 1
    timed = {"method": "GET", "endpoint": "/repos/{}/{}"}
    assert value(series, "farcaster_github_call_duration_seconds_count", **timed) == 2


def test_agent_durations_land_in_every_installed_registry() -> None:
    registry = CollectorRegistry()
    install_agent_metrics(registry)
    observe_agent_duration("rename", 2.0, "proposed")
    observe_agent_duration("rename", 400.0, "timeout")
    series = scrape(registry)
    proposed = {"agent": "rename", "outcome": "proposed"}
    assert value(series, "farcaster_agent_duration_seconds_count", **proposed) == 1
    assert value(series, "farcaster_agent_duration_seconds_bucket", le="5.0", **proposed) == 1
    timeout = {"agent": "rename", "outcome": "timeout", "le": "300.0"}
    assert value(series, "farcaster_agent_duration_seconds_bucket", **timeout) == 0


def test_serve_metrics_answers_prometheus_over_http(store: Store) -> None:
    store.enqueue(new_job(1))
    server = serve_metrics(0, build_registry(store), addr="127.0.0.1")
    try:
        response = httpx.get(f"http://127.0.0.1:{server.server_port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 200
    assert 'farcaster_jobs{state="queued"} 1.0' in response.text
