"""Composition: the objects one Farcaster process shares, built from settings."""

from collections.abc import Callable
from dataclasses import dataclass, field

from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Database, Store
from bot.store.outbox import Outbox

GitHubFactory = Callable[[int], GitHubClient]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: Store
    outbox: Outbox
    github: GitHubFactory
    _clients: dict[int, GitHubClient] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, *, github: GitHubFactory | None = None) -> "Runtime":
        db = Database.from_url(settings.database_url)
        store = Store(db, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
        outbox = Outbox(db, lease_seconds=settings.lease_seconds)
        runtime = cls(settings=settings, db=db, store=store, outbox=outbox, github=lambda _i: None)  # type: ignore[arg-type,return-value]
        runtime.github = github or runtime._cached_client
        return runtime

    def _cached_client(self, installation_id: int) -> GitHubClient:
        client = self._clients.get(installation_id)
        if client is None:
            client = GitHubClient.for_installation(self.settings, installation_id)
            self._clients[installation_id] = client
        return client

    def close(self) -> None:
        self.db.dispose()
