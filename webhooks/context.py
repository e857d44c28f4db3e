"""What webhook handlers are given: the few shared objects they use, not the container."""

from collections.abc import Callable
from dataclasses import dataclass

from bot.agents.registry import LiveRegistry
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Store
from bot.store.deliveries import Deliveries
from webhooks.permissions import PermissionCache, permission_of


@dataclass(frozen=True)
class Context:
    settings: Settings
    store: Store
    github: Callable[[int], GitHubClient]  # the client of an installation
    agents: LiveRegistry
    permissions: PermissionCache
    deliveries: Deliveries

    def permission(self, github: GitHubClient, repo: str, user: str) -> str:
        return permission_of(self.permissions, github, repo, user)
