"""``GET /metrics``: Prometheus figures of the process, with the webhook app's own series.

- ``farcaster_webhook_deliveries_total{event, outcome}``: every answered delivery. Event
  names outside the handled set are folded into ``other`` and deliveries rejected before
  their signature was checked are ``unverified``, so nobody can grow the label set.
- ``farcaster_webhook_intake_seconds{event}``: time from request to answer.
- every store-wide series of :mod:`bot.observe.metrics` (jobs by state, lease expiries, fenced
  refusals, tombstones by reason, ...), counted in the database at scrape time, and this
  process's GitHub-call and agent-duration series (``serve --workers`` runs agents).

The series are added to the process's registry (``Runtime.metrics``), which holds the
store's and the process's series already; one app per runtime.
"""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry, known_events: Iterable[str]) -> None:
        self.registry = registry
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

    def observe(self, event: str, outcome: str, seconds: float) -> None:
        label = event if event in self._known else "other"
        self.deliveries.labels(event=label, outcome=outcome).inc()
        self.latency.labels(event=label).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
