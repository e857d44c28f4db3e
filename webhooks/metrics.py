"""``GET /metrics``: Prometheus figures of the process, with the webhook app's own series.

- ``farcaster_webhook_deliveries_total{event, outcome}``: every answered delivery. Event
  names outside the handled set are folded into ``other`` and deliveries rejected before
  their signature was checked are ``unverified``, so nobody can grow the label set.
- ``farcaster_webhook_intake_seconds{event}``: time from request to answer.
- ``farcaster_deliveries_undecided``, ``farcaster_oldest_undecided_delivery_age_seconds`` and
  ``farcaster_delivery_decisions{outcome}`` (settled deliveries by outcome, ``failed``
  included): the inbox, counted in the database at scrape time, whichever process decided.
- every store-wide series of :mod:`bot.observe.metrics` (jobs by state, lease expiries, fenced
  refusals, tombstones by reason, ...), counted in the database at scrape time, and this
  process's GitHub-call and agent-duration series (``serve --workers`` runs agents).

The series are added to the process's registry (``Runtime.metrics``), which holds the
store's and the process's series already; one app per runtime.
"""

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.core.errors import StoreError
from bot.store.deliveries import Deliveries

log = logging.getLogger(__name__)

MAX_CACHED_SERIES = 1024
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IntakeMetrics:
    def __init__(
        self,
        registry: CollectorRegistry,
        known_events: Iterable[str],
        deliveries: Deliveries | None = None,
    ) -> None:
        self.registry = registry
        if deliveries is not None:
            registry.register(InboxCollector(deliveries))
        self._known = frozenset(known_events) | {"unverified"}
        self.deliveries = Counter(
            "farcaster_webhook_deliveries",
            "Webhook deliveries answered, by event and outcome.",
            ["event", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "farcaster_webhook_intake_seconds",
            "Seconds from receiving a delivery to answering it.",
            ["event"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._series: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def observe(self, event: str, outcome: str, seconds: float) -> None:
        """Count one answered delivery (every one: the label children are looked up once)."""
        series = self._series.get((event, outcome))
        if series is None:
            label = event if event in self._known else "other"
            series = (
                self.deliveries.labels(event=label, outcome=outcome),
                self.latency.labels(event=label),
            )
            if len(self._series) < MAX_CACHED_SERIES:  # events outside the set vary freely
                self._series[(event, outcome)] = series
        counter, latency = series
        counter.inc()
        latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class InboxCollector(Collector):
    """The inbox's backlog and decisions, read from the database at scrape time."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries

    def describe(self) -> Iterable[Metric]:
        return list(self._families(0, None, {}))

    def collect(self) -> Iterable[Metric]:
        try:
            count, age = self.deliveries.backlog()
            outcomes = self.deliveries.by_outcome()
        except StoreError as exc:  # farcaster_store_up says so; no inbox figures this time
            log.warning("inbox metrics unavailable: %s", exc.message)
            return []
        return list(self._families(count, age, outcomes))

    def _families(
        self, count: int, age: float | None, outcomes: dict[str, int]
    ) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "farcaster_deliveries_undecided",
            "Deliveries stored by intake and not yet decided by triage.",
            value=count,
        )
        yield GaugeMetricFamily(
            "farcaster_oldest_undecided_delivery_age_seconds",
            "Age of the oldest undecided delivery (0 when none waits).",
            value=age or 0.0,
        )
        decisions = GaugeMetricFamily(
            "farcaster_delivery_decisions",
            "Settled deliveries by outcome (failed: a permanent failure, with its reason).",
            labels=["outcome"],
        )
        for outcome, n in sorted(outcomes.items()):
            decisions.add_metric([outcome], n)
        yield decisions
