"""Who may start or change jobs: commenters with ``write``, ``maintain`` or ``admin``.

The answer comes from GitHub's collaborator-permission endpoint, never from the payload's
``author_association`` (it misreports private organisation members). Answers are cached per
(repository, user) for ``permission_cache_seconds``, so a burst of commands costs one call;
failures are not cached. The clock is injected, so tests expire entries without sleeping.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from bot.core.permissions import Permission, at_least
from bot.github.client import GitHubClient

MAX_ENTRIES = 10_000


def can_change_jobs(permission: str) -> bool:
    return at_least(permission, Permission.WRITE)


class PermissionCache:
    """A small, thread-safe TTL cache of repository permissions, oldest entries evicted first."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(repo: str, user: str) -> tuple[str, str]:
        # GitHub names are case-insensitive.
        return repo.lower(), user.lower()

    def get(self, repo: str, user: str) -> str | None:
        key = self._key(repo, user)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, permission = entry
            if self._clock() >= expires:
                del self._entries[key]
                return None
            return permission

    def put(self, repo: str, user: str, permission: str) -> None:
        if self.ttl_seconds <= 0:
            return
        key = self._key(repo, user)
        with self._lock:
            self._entries[key] = (self._clock() + self.ttl_seconds, permission)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def permission_of(cache: PermissionCache, github: GitHubClient, repo: str, user: str) -> str:
    """The user's permission on ``owner/name``, from the cache or from GitHub."""
    cached = cache.get(repo, user)
    if cached is not None:
        return cached
    owner, name = repo.split("/", 1)
    permission = github.collaborator_permission(owner, name, user)
    cache.put(repo, user, permission)
    return permission
