"""What handlers share: the runtime, the permission cache and the delivery inbox."""

from dataclasses import dataclass

from bot.app.runtime import Runtime
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Store
from bot.store.deliveries import Deliveries
from webhooks.permissions import PermissionCache, permission_of


@dataclass(frozen=True)
class Context:
    runtime: Runtime
    permissions: PermissionCache
    deliveries: Deliveries

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def store(self) -> Store:
        return self.runtime.store

    def github(self, installation_id: int) -> GitHubClient:
        return self.runtime.github(installation_id)

    def permission(self, github: GitHubClient, repo: str, user: str) -> str:
        return permission_of(self.permissions, github, repo, user)
