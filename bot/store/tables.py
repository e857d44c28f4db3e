"""Core table handles for the store's statements."""

from sqlalchemy import Table

from bot.store.schema import metadata

JOBS: Table = metadata.tables["jobs"]
EVENTS: Table = metadata.tables["job_events"]
PROPOSALS: Table = metadata.tables["proposals"]
EFFECTS: Table = metadata.tables["effects"]
TOMBSTONES: Table = metadata.tables["tombstones"]
DELIVERIES: Table = metadata.tables["deliveries"]
OUTBOX: Table = metadata.tables["outbox"]
PACING: Table = metadata.tables["pacing_buckets"]
RECOVERIES: Table = metadata.tables["delivery_recoveries"]
WATERMARKS: Table = metadata.tables["recovery_watermarks"]
SWEEPS: Table = metadata.tables["sweep_schedule"]
