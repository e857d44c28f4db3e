"""Composition: the objects one Farcaster process shares, built once from settings.

A process builds one :class:`Runtime`: the database and the store on it, the outbox, the
delivery inbox, the GitHub clients (one per installation, cached), the agent registry (the
agents file read once; see :class:`~bot.agents.registry.LiveRegistry` for reloads) and the
metrics registry every ``/metrics`` endpoint of the process serves. Handlers do not receive
the container: the worker's handlers see :class:`~bot.worker.services.Services`, the webhook
handlers a :class:`~webhooks.context.Context` with what they use.
"""

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from bot.agents.registry import LiveRegistry
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.observe.metrics import build_registry
from bot.store import Database, Store
from bot.store.deliveries import Deliveries
from bot.store.outbox import Outbox
from bot.store.pacing import Bucket, Pacing, pacer

GitHubFactory = Callable[[int], GitHubClient]


class Runtime:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: Store,
        outbox: Outbox,
        github: GitHubFactory | None = None,
        *,
        agents: LiveRegistry | None = None,
        metrics: CollectorRegistry | None = None,
    ) -> None:
        """Raises ConfigurationError when the agents file is bad (``agents`` not given)."""
        self.settings = settings
        self.db = db
        self.store = store
        self.outbox = outbox
        # One inbox per process: on SQLite, intake and triage queue on its write lock.
        self.deliveries = Deliveries(db, store, outbox)
        self._clients: dict[int, GitHubClient] = {}
        self.github: GitHubFactory = github or self._cached_client
        self.agents = agents or LiveRegistry.load(settings)
        # The installation write buckets every process shares (None: pacing is off).
        self.pacing: Pacing | None = None
        if settings.writes_per_minute > 0:
            bucket = Bucket(rate=settings.writes_per_minute / 60.0, burst=settings.write_burst)
            self.pacing = Pacing(db, bucket)
        self.metrics = metrics or build_registry(store, self.pacing)

    @classmethod
    def from_settings(cls, settings: Settings, *, github: GitHubFactory | None = None) -> "Runtime":
        db = Database.from_url(settings.database_url)
        store = Store(
            db,
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            max_drifts=settings.max_drifts,
            max_waits=settings.max_waits,
        )
        outbox = Outbox(db, lease_seconds=settings.lease_seconds)
        try:
            return cls(settings, db, store, outbox, github)
        except BaseException:
            db.dispose()
            raise

    def _cached_client(self, installation_id: int) -> GitHubClient:
        client = self._clients.get(installation_id)
        if client is None:
            client = GitHubClient.for_installation(
                self.settings, installation_id, pace=self._pacer(installation_id)
            )
            self._clients[installation_id] = client
        return client

    def _pacer(self, installation_id: int) -> Callable[[], None] | None:
        """Take from the installation's shared write bucket, or raise Paced (no sleep)."""
        return None if self.pacing is None else pacer(self.pacing, installation_id)

    def close(self) -> None:
        self.db.dispose()
