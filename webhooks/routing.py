"""Routing a verified delivery to the handler of its event and action.

A handler runs in triage (webhooks/triage.py), never in the webhook request (``ping`` aside,
which reads only its payload). It reads the payload (lenient models), may make the few
GitHub reads a decision needs, and returns a :class:`Decision`: what to record (outcome,
reason), the job to create, the feedback to queue. It never writes a delivery itself;
triage records the decision in one transaction. Handlers are registered per feature module
(``@router.register("issue_comment", action="created", payload=IssueCommentEvent)``) and
the feature routers are composed in ``webhooks/handlers``. The ``payload`` model a handler
reads is also what intake checks the payload against before storing it (types, control
characters: 400), so a payload the handler would refuse is refused in the request, not
found out later by triage.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

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
        self._payloads: dict[tuple[str, str | None], type[BaseModel]] = {}

    def register(
        self, event: str, *, action: str | None = None, payload: type[BaseModel] | None = None
    ) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            key = (event, action)
            if key in self._handlers:
                raise ValueError(f"two handlers for {event}.{action}")
            self._handlers[key] = handler
            if payload is not None:
                self._payloads[key] = payload
            return handler

        return add

    def _key(self, event: str, action: str | None) -> tuple[str, str | None] | None:
        for key in ((event, action), (event, None)):
            if key in self._handlers:
                return key
        return None

    def find(self, event: str, action: str | None) -> Handler | None:
        key = self._key(event, action)
        return None if key is None else self._handlers[key]

    def payload_model(self, event: str, action: str | None) -> type[BaseModel] | None:
        """The model the handler of (event, action) reads its payload with, if it said."""
        key = self._key(event, action)
        return None if key is None else self._payloads.get(key)

    def event_model(self, event: str) -> type[BaseModel] | None:
        """The payload model of ``event`` when its handlers name exactly one (whatever the
        action): intake tries it first, with the envelope, in one parse."""
        models = {m for (e, _), m in self._payloads.items() if e == event}
        return models.pop() if len(models) == 1 else None

    @property
    def events(self) -> frozenset[str]:
        return frozenset(event for event, _ in self._handlers)

    @classmethod
    def compose(cls, routers: Iterable["Router"]) -> "Router":
        composed = cls()
        for router in routers:
            for (event, action), handler in router._handlers.items():
                payload = router._payloads.get((event, action))
                composed.register(event, action=action, payload=payload)(handler)
        return composed
