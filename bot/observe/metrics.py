"""Prometheus metrics an operator alerts on.

Two kinds, on purpose:

- **Store metrics** are computed at scrape time from the database (:func:`register_store_metrics`),
  so any replica's ``/metrics`` gives the same, whole-fleet answer however many machines run
  workers, and a restart loses nothing. Counters come from append-only rows (events,
  tombstones), so they only grow.
- **Process metrics** (GitHub calls, agent durations) are what this process saw; Prometheus
  sums them across instances. :func:`install_github_call_metrics` subscribes to the GitHub
  client's call observer; the runner calls :func:`observe_agent_duration`.

Nothing is registered at import: the CLI builds a registry (:func:`build_registry`) and
serves it (:func:`serve_metrics`, or the webhook app's ``GET /metrics``).

What to alert on (examples): ``farcaster_oldest_ready_job_age_seconds > 300`` (no worker is
taking jobs), ``rate(farcaster_lease_expiries_total[15m]) > 0`` (workers die or hang),
``increase(farcaster_outbox_items{state="dead"}[1h]) > 0``, ``farcaster_store_up == 0``.
"""

import logging
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.errors import StoreError, StoreUnavailable
from bot.core.records import JobState
from bot.core.vocab import EventKind
from bot.github.client import observe_calls
from bot.store import Store
from bot.store.pacing import Pacing

log = logging.getLogger(__name__)

__all__ = [
    "build_registry",
    "install_agent_metrics",
    "install_github_call_metrics",
    "observe_agent_duration",
    "register_pacing_metrics",
    "register_store_metrics",
    "serve_metrics",
]

# Event kinds counted from the trail, and the counter each one feeds.
EVENT_COUNTERS = {
    EventKind.CLAIMED: (
        "farcaster_job_claims",
        "Claims of jobs by workers, one per phase (a claim spends no attempt).",
    ),
    EventKind.ATTEMPT_FAILED: (
        "farcaster_failed_attempts",
        "Attempts that ended badly (each spends one of the job's attempts).",
    ),
    EventKind.LEASE_EXPIRED: (
        "farcaster_lease_expiries",
        "Leases that ran out before their holder finished (a worker died or hung).",
    ),
    EventKind.FENCED_WRITE_REJECTED: (
        "farcaster_fenced_write_rejections",
        "Writes refused because a newer holder owned the job (a stale worker woke up).",
    ),
    EventKind.RATE_LIMITED: (
        "farcaster_rate_limit_waits",
        "Jobs put back to wait for GitHub's rate limit.",
    ),
    EventKind.PACED: (
        "farcaster_pacing_waits",
        "Jobs put back to wait for their installation's shared write pacing (not GitHub's).",
    ),
}
JOB_STATES = [state.value for state in JobState] + ["scheduled"]
OUTBOX_STATES = ("pending", "dead")

_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_AGENT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class StoreCollector(Collector):
    """Reads :meth:`Store.operator_counts` at every scrape.

    A database that cannot be read does not break the scrape: the families are left out
    and ``farcaster_store_up`` is 0, which is itself the alert.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        # Names only, so that registering does not query the database.
        return list(self._families(None, up=1.0, seconds=0.0))

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        try:
            counts = self._store.operator_counts(list(EVENT_COUNTERS))
        except StoreError:  # the database failed us (StoreUnavailable); the scrape still answers
            log.warning("metrics: the store could not be read", exc_info=True)
            return list(self._families(None, up=0.0, seconds=time.monotonic() - started))
        return list(self._families(counts, up=1.0, seconds=time.monotonic() - started))

    def _families(self, counts: Any, *, up: float, seconds: float) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "farcaster_store_up", "1 when the last scrape could read the job store.", value=up
        )
        yield GaugeMetricFamily(
            "farcaster_store_scrape_seconds",
            "Time the last scrape spent reading the job store.",
            value=seconds,
        )
        if counts is None and up == 0.0:
            return
        jobs = GaugeMetricFamily(
            "farcaster_jobs",
            "Jobs by state; a ready job waiting for a later run_after (backoff, rate limit) "
            "counts as 'scheduled' instead.",
            labels=["state"],
        )
        events = {
            kind: CounterMetricFamily(name, text) for kind, (name, text) in EVENT_COUNTERS.items()
        }
        reclaims = CounterMetricFamily(
            "farcaster_lease_reclaims", "Claims that took over a job whose lease had expired."
        )
        tombstones = CounterMetricFamily(
            "farcaster_tombstones",
            "Jobs that ended without a pull request, by reason code.",
            labels=["reason"],
        )
        outbox = GaugeMetricFamily(
            "farcaster_outbox_items",
            "GitHub calls waiting in the outbox (pending) or given up on (dead).",
            labels=["state"],
        )
        oldest = GaugeMetricFamily(
            "farcaster_oldest_ready_job_age_seconds",
            "How long the longest-waiting runnable job has waited for a worker (0: none).",
        )
        if counts is not None:
            for state in JOB_STATES:
                jobs.add_metric([state], counts.jobs_by_state.get(state, 0))
            for kind, family in events.items():
                family.add_metric([], counts.events_by_kind.get(kind, 0))
            reclaims.add_metric([], counts.reclaims)
            for reason, count in sorted(counts.tombstones_by_reason.items()):
                tombstones.add_metric([reason], count)
            for state in OUTBOX_STATES:
                outbox.add_metric([state], counts.outbox_by_state.get(state, 0))
            oldest.add_metric([], counts.oldest_ready_age or 0.0)
        yield jobs
        yield from events.values()
        yield reclaims
        yield tombstones
        yield outbox
        yield oldest


def register_store_metrics(registry: CollectorRegistry, store: Store) -> None:
    """Add the store's counts to ``registry``, computed from the database at scrape time."""
    registry.register(StoreCollector(store))


class PacingCollector(Collector):
    """``farcaster_pacing_tokens``: each installation's write bucket, read at scrape time."""

    def __init__(self, pacing: Pacing) -> None:
        self._pacing = pacing

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            fill = self._pacing.fill()
        except StoreUnavailable:  # the store's own gauge (farcaster_store_up) says why
            log.warning("metrics: the pacing buckets could not be read", exc_info=True)
            return []
        for installation, tokens in sorted(fill.items()):
            family.add_metric([str(installation)], tokens)
        return [family]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "farcaster_pacing_tokens",
            "Content-creating GitHub requests an installation may send now without waiting "
            f"(its shared bucket holds at most {self._pacing.bucket.burst:g}; 0: jobs wait).",
            labels=["installation"],
        )


def register_pacing_metrics(registry: CollectorRegistry, pacing: Pacing | None) -> None:
    """Add the write buckets' fill to ``registry`` (nothing when pacing is off)."""
    if pacing is not None:
        registry.register(PacingCollector(pacing))


# -- process-local metrics ---------------------------------------------------------------

# Keyed weakly by registry, so installing twice is harmless and a dropped registry is freed.
_lock = threading.Lock()
_github_installed: "weakref.WeakSet[CollectorRegistry]" = weakref.WeakSet()
_agent_histograms: "weakref.WeakKeyDictionary[CollectorRegistry, Histogram]" = (
    weakref.WeakKeyDictionary()
)


def install_github_call_metrics(registry: CollectorRegistry) -> None:
    """Count and time every GitHub call this process makes, into ``registry`` (once)."""
    with _lock:
        if registry in _github_installed:
            return
        _github_installed.add(registry)
        calls = Counter(
            "farcaster_github_calls",
            "GitHub REST calls by method, endpoint template and status ('error': no answer).",
            ["method", "endpoint", "status"],
            registry=registry,
        )
        latency = Histogram(
            "farcaster_github_call_duration_seconds",
            "Time of GitHub REST calls, retries inside the call included.",
            ["method", "endpoint"],
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )

    def observe(method: str, endpoint: str, status: int, seconds: float) -> None:
        calls.labels(method, endpoint, str(status) if status else "error").inc()
        latency.labels(method, endpoint).observe(seconds)

    observe_calls(observe)


def install_agent_metrics(registry: CollectorRegistry) -> None:
    """Create ``farcaster_agent_duration_seconds`` in ``registry`` (once)."""
    with _lock:
        if registry in _agent_histograms:
            return
        _agent_histograms[registry] = Histogram(
            "farcaster_agent_duration_seconds",
            "Time agents ran, by agent and outcome (proposed, no_change, failed, timeout, ...).",
            ["agent", "outcome"],
            buckets=_AGENT_BUCKETS,
            registry=registry,
        )


def observe_agent_duration(agent: str, seconds: float, outcome: str) -> None:
    """Record one agent run; a no-op until :func:`install_agent_metrics` was called."""
    with _lock:
        histograms = list(_agent_histograms.values())
    for histogram in histograms:
        histogram.labels(agent, outcome).observe(seconds)


def build_registry(store: Store, pacing: Pacing | None = None) -> CollectorRegistry:
    """A registry with every Farcaster metric: the store's and this process's."""
    registry = CollectorRegistry()
    register_store_metrics(registry, store)
    register_pacing_metrics(registry, pacing)
    install_github_call_metrics(registry)
    install_agent_metrics(registry)
    return registry


def serve_metrics(port: int, registry: CollectorRegistry, *, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve ``registry`` at ``http://addr:port/metrics`` from a daemon thread, for
    ``farcaster worker --metrics-port``. Port 0 picks a free one (``server.server_port``);
    ``server.shutdown()`` stops it."""
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
