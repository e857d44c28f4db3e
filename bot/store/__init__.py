"""The durable store: jobs, leases, events, proposals, effects, tombstones, outbox."""

from bot.store.database import Database
from bot.store.store import Enqueued, Store

__all__ = ["Database", "Enqueued", "Store"]
