"""The durable store: jobs, leases, events, proposals, effects, tombstones, outbox."""

from bot.store.database import Database
from bot.store.statements import Completion
from bot.store.store import Enqueued, Store

__all__ = ["Completion", "Database", "Enqueued", "Store"]
