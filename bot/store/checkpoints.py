"""SQLite's WAL checkpoints, taken only while the database's write lock is held.

SQLite 3.7.0 through 3.51.2 (Debian 12 ships 3.40.1) has a race that corrupts a database in
WAL mode ("the WAL-reset bug", sqlite.org/wal.html, fixed in 3.51.3): a checkpoint completes,
a second one starts just after it, and while it starts another connection commits a
transaction that resets the WAL; the second checkpoint misses the reset, and a later one
skips part of a transaction. Every farcaster process writes the same file from many threads
(serve's intake, triage and worker loops, each worker's outbox drain), and with SQLite's
automatic checkpoints every commit past 1,000 WAL pages runs one, from whichever connection
committed: back-to-back checkpoints from different connections are the normal case there.
The crash suite met it: ``database disk image is malformed`` after random SIGKILLs.

So no connection checkpoints by itself (``wal_autocheckpoint=0``, set on every connection by
bot/store/dialect.py), and a checkpoint runs only here: one connection takes the write lock
(``BEGIN IMMEDIATE``, waiting at most ``LOCK_WAIT_MS``), a second one checkpoints
(``PASSIVE``), then the first lets go. While it runs no other connection can commit, so
nothing can reset the WAL under it. A process runs one every ``EVERY_COMMITS`` write
transactions it committed, at most one at a time; one that cannot get the lock is skipped,
and the next turn catches up.
"""

import logging
import threading

from sqlalchemy import Engine

from bot.store.dialect import Dialect

log = logging.getLogger(__name__)

EVERY_COMMITS = 200
LOCK_WAIT_MS = 1000


class WalCheckpoints:
    """Counts a process's committed writes and checkpoints every ``every`` of them."""

    def __init__(self, engine: Engine, dialect: Dialect, *, every: int = EVERY_COMMITS) -> None:
        self.engine = engine
        self.dialect = dialect
        self.every = every
        self._commits = 0
        self._count = threading.Lock()
        self._running = threading.Lock()

    def committed(self, writes: int = 1) -> None:
        """Count ``writes`` committed transactions; checkpoint when their turn has come."""
        if not self.dialect.checkpoints_under_write_lock:
            return
        with self._count:
            self._commits += writes
            due = self._commits >= self.every
            if due:
                self._commits = 0
        if due:
            self.run()

    def run(self) -> bool:
        """Checkpoint now, unless one runs in this process already or the write lock stays
        taken; whether it ran. Failures are logged: the next turn catches up."""
        if not self._running.acquire(blocking=False):
            return False
        try:
            with self.engine.connect() as holder, self.engine.connect() as checkpointer:
                try:
                    return self.dialect.checkpoint(
                        holder.connection.dbapi_connection,
                        checkpointer.connection.dbapi_connection,
                        lock_wait_ms=LOCK_WAIT_MS,
                    )
                except Exception:
                    # The driver's own calls bypass the engine's error handling: discard
                    # both connections, which a disk I/O error may have left unusable.
                    holder.invalidate()
                    checkpointer.invalidate()
                    raise
        except Exception as exc:  # the WAL just grows until the next turn
            extended = getattr(exc, "sqlite_errorname", "")
            log.warning("WAL checkpoint failed; the next turn catches up: %s %s", exc, extended)
            return False
        finally:
            self._running.release()
