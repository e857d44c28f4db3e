"""``GET /metrics``: Prometheus figures of one app, in its own registry.

- ``farcaster_webhook_deliveries_total{event, outcome}``: every answered delivery. Event
  names outside the handled set are folded into ``other`` and deliveries rejected before
  their signature was checked are ``unverified``, so nobody can grow the label set.
- ``farcaster_webhook_intake_seconds{event}``: time from request to answer.
- ``farcaster_jobs{state}``: jobs by state, counted in the database at scrape time.

Each app owns a :class:`CollectorRegistry`, so several apps (tests) never collide.
"""

import logging
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.records import JobState

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _JobsByState(Collector):
    def __init__(self, count_by_state: Callable[[], dict[str, int]]) -> None:
        self._count = count_by_state

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._count()
        except Exception:  # an unreachable database must not break the other figures
            log.warning("jobs by state could not be counted", exc_info=True)
            return
        gauge = GaugeMetricFamily("farcaster_jobs", "Jobs by state, now.", labels=["state"])
        for state in JobState:
            gauge.add_metric([state.value], counts.get(state.value, 0))
        yield gauge


class IntakeMetrics:
    def __init__(
        self, count_by_state: Callable[[], dict[str, int]], known_events: Iterable[str]
    ) -> None:
        self.registry = CollectorRegistry()
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
        self.registry.register(_JobsByState(count_by_state))

    def observe(self, event: str, outcome: str, seconds: float) -> None:
        label = event if event in self._known else "other"
        self.deliveries.labels(event=label, outcome=outcome).inc()
        self.latency.labels(event=label).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
