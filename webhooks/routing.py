"""Routing a verified delivery to the handler of its event and action.

A handler reads the payload (lenient models), may make the few GitHub reads intake needs,
and returns a :class:`Decision`: what to record (outcome, reason), the job to create, the
feedback to queue. It never writes a delivery itself; the inbox records the decision in one
transaction. Handlers are registered per feature module (``@router.register("issue_comment",
action="created")``) and the feature routers are composed in ``webhooks/handlers``.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.records import NewJob
from bot.core.vocab import DeliveryOutcome
from bot.store.deliveries import OutboxPut

if TYPE_CHECKING:
    from webhooks.context import Context


@dataclass(frozen=True)
class Delivery:
    """A delivery whose signature was verified and whose body is a JSON object."""

    id: str
    event: str
    payload: dict[str, Any]
    body_sha256: str

    @property
    def action(self) -> str | None:
        action = self.payload.get("action")
        return action if isinstance(action, str) else None

    @property
    def installation_id(self) -> int | None:
        installation = self.payload.get("installation")
        if isinstance(installation, dict) and isinstance(installation.get("id"), int):
            return int(installation["id"])
        return None

    @property
    def repo(self) -> str | None:
        repository = self.payload.get("repository")
        if isinstance(repository, dict) and isinstance(repository.get("full_name"), str):
            return str(repository["full_name"])
        return None


@dataclass(frozen=True)
class Decision:
    """What a handler decided; the inbox records it and answers with ``status``."""

    outcome: DeliveryOutcome
    reason: str | None = None
    job: NewJob | None = None
    job_id: str | None = None
    feedback: tuple[OutboxPut, ...] = field(default=())
    status: int = 202


def ignored(reason: str) -> Decision:
    return Decision(DeliveryOutcome.IGNORED, reason)


Handler = Callable[["Context", Delivery], Decision]


class Router:
    """Handlers by (event, action); an event-wide handler (action None) is the fallback."""

    def __init__(self) -> None:
        self._handlers: dict[tuple[str, str | None], Handler] = {}

    def register(self, event: str, *, action: str | None = None) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            key = (event, action)
            if key in self._handlers:
                raise ValueError(f"two handlers for {event}.{action}")
            self._handlers[key] = handler
            return handler

        return add

    def find(self, event: str, action: str | None) -> Handler | None:
        return self._handlers.get((event, action)) or self._handlers.get((event, None))

    @property
    def events(self) -> frozenset[str]:
        return frozenset(event for event, _ in self._handlers)

    @classmethod
    def compose(cls, routers: Iterable["Router"]) -> "Router":
        composed = cls()
        for router in routers:
            for (event, action), handler in router._handlers.items():
                composed.register(event, action=action)(handler)
        return composed
