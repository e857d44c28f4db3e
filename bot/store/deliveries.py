"""The delivery inbox: every verified webhook delivery, accepted once, then decided by triage.

Rules:

- **Accept.** Intake writes a delivery in ONE statement (``INSERT ... ON CONFLICT
  (delivery_id) DO NOTHING``) before it answers 202: its event, action, installation,
  repository, the body's SHA-256 (computed by the caller) and the body (see Body).
  Deliveries arriving together share the statement and its commit: on SQLite,
  those that reach :meth:`Deliveries.accept_async` in one turn of the event loop are
  written there at its end when the write lock is free at once (the WAL checkpoint, its
  writes and fsync, runs in a thread of its own, asked for one every
  ``CHECKPOINT_EVERY_ROWS`` rows, so it never stalls the loop: bot/store/checkpoints.py);
  on PostgreSQL, from the
  loop on an async connection of its own, one statement in flight and the next made of all
  that arrived meanwhile; otherwise (SQLite's lock taken, blocking callers) by the group
  commit's writer thread, which under load lets a burst gather for
  ``INTAKE_GATHER_SECONDS`` (bot/store/group_commit.py). On both engines the statement
  runs alone in autocommit (its own transaction) and returns the rows it wrote. The same
  delivery sent twice, even at the same instant, records one row. A store that cannot
  take the write raises :class:`~bot.core.errors.StoreUnavailable` (intake answers 503);
  on SQLite intake waits at most ``busy_timeout_ms`` for another writer, and a delivery
  the writer has not taken within that time is never written. A connection the server
  closed is retried once on a fresh one, so a restarted PostgreSQL costs no delivery.
- **Body.** On PostgreSQL stored raw, as received, while the delivery waits for triage,
  and zlib-compressed from the moment it is settled: by triage, outside the request, in
  the transaction of its decision or failure (bot/store/delivery_leases.py), or by intake
  for a delivery it settles itself (``ping``, events nobody handles). So a body is kept
  compressed for all of the retention but the seconds before triage decides, and the
  request does not pay zlib (60-100 us a 15 KB body). On SQLite intake compresses every
  body (:attr:`Dialect.compress_at_intake`: there the raw body's pages cost this process
  more than zlib does). ``body_compressed`` tells the two forms apart; :func:`stored_body`
  reads both, and settling a raw one compresses it.
- **Undecided until triage.** A delivery intake could not settle by itself (anything but
  ``ping`` and events no handler takes) is ``undecided``. Triage leases it like a job
  (bot/store/delivery_leases.py) and records the decision with everything it caused (the job
  and its first event, the outbox items that carry feedback) in one fenced transaction.
- **Deduplication** has two keys: ``delivery_id`` (unique), and the job's idempotency key
  (``comment:<node_id>``, unique on jobs): another delivery about the same comment is
  decided ``job_exists`` with the existing job's id and queues no second feedback.
- **Retention.** Bodies of settled deliveries (compressed, see Accept) are emptied
  ``retention`` after receipt (:meth:`Deliveries.forget_bodies`); an undecided delivery
  keeps its body, raw.

On SQLite, which admits one writer at a time, this process's writers queue on a lock (see
``Deliveries.__init__``). Reads begin DEFERRED (:meth:`Database.read`) and take no lock.
"""

import asyncio
import contextlib
import hashlib
import logging
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, cast

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from bot.core.errors import JobNotFound, StoreUnavailable
from bot.core.records import Job
from bot.core.vocab import DeliveryOutcome, OutboxKind
from bot.store import statements as st
from bot.store.database import Database, once_more_if_lost, translated_errors
from bot.store.dialect import SQLITE_BUSY_CODES
from bot.store.group_commit import GroupCommit
from bot.store.outbox import Outbox
from bot.store.store import Store

log = logging.getLogger(__name__)

UNDECIDED = st.UNDECIDED
# Under load, the intake writer lets deliveries gather this long before it writes them.
INTAKE_GATHER_SECONDS = 0.002
DECIDED = "decided"
FAILED = "failed"


@dataclass(frozen=True)
class IncomingDelivery:
    """A verified delivery as intake accepts it. ``outcome`` is set when intake settles it
    by itself (``ping``, an event nobody handles); otherwise triage decides."""

    delivery_id: str
    event: str
    action: str | None
    payload_sha256: str | None  # None: the store hashes the body (in its writer thread)
    body: bytes
    installation_id: int | None = None
    repo: str | None = None
    outcome: DeliveryOutcome | None = None
    reason: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    delivery_id: str
    event: str
    action: str | None
    installation_id: int | None
    repo: str | None
    payload_sha256: str
    received_at: float
    state: str
    outcome: str | None
    reason: str | None
    job_id: str | None
    attempts: int
    run_after: float
    lease_owner: str | None
    lease_expires_at: float | None
    fencing_token: int
    last_error: str | None
    decided_at: float | None


@dataclass(frozen=True)
class OutboxPut:
    """An outbox item to queue with the decision (see :meth:`Outbox.put_in`)."""

    key: str
    kind: OutboxKind
    payload: dict[str, Any]
    job_id: str | None = None


@dataclass(frozen=True)
class Accepted:
    """What intake's insert found: ``new`` False when an earlier copy was accepted first
    (``earlier``: that copy's record, read back after the write)."""

    delivery_id: str
    new: bool
    state: str
    earlier: "DeliveryRecord | None" = None


class _RolledBack(Exception):
    """Raised inside a probe's transaction so that it rolls back."""


@dataclass
class _Held:
    """A pooled connection the intake writer keeps, and the busy timeout it was given."""

    connection: PoolProxiedConnection
    busy_ms: int | None = None


def _accepted_row(delivery: IncomingDelivery, *, compress_body: bool) -> tuple[Any, ...]:
    """The delivery's values in :data:`statements.ACCEPTED_COLUMNS` order: the body
    compressed when intake settles the delivery or ``compress_body`` says so, else raw."""
    compressed = compress_body or delivery.outcome is not None
    return (
        delivery.delivery_id,
        delivery.event,
        delivery.action,
        delivery.installation_id,
        delivery.repo,
        delivery.payload_sha256 or hashlib.sha256(delivery.body).hexdigest(),
        compress(delivery.body) if compressed else delivery.body,
        compressed,
        UNDECIDED if delivery.outcome is None else DECIDED,
        None if delivery.outcome is None else str(delivery.outcome),
        delivery.reason,
    )


_OnLoop = tuple[tuple[Any, ...], "asyncio.Future[Accepted | None]"]
# About 1,000 pages of WAL (SQLite's own automatic checkpoint, now off), for compressed deliveries.
CHECKPOINT_EVERY_ROWS = 500


def _locked(exc: StoreUnavailable) -> bool:
    """True when SQLite refused because another connection holds the write lock."""
    orig = getattr(exc.__cause__, "orig", None)
    return getattr(orig, "sqlite_errorcode", None) in SQLITE_BUSY_CODES


def record_from_row(row: Mapping[Any, Any]) -> DeliveryRecord:
    return DeliveryRecord(**{f.name: row[f.name] for f in fields(DeliveryRecord)})


def compress(body: bytes) -> bytes:
    return zlib.compress(body, 1)  # the fastest level: paid once per delivery settled


def stored_body(stored: bytes | None, *, compressed: bool) -> bytes | None:
    """The raw body from what the row holds (``body``, ``body_compressed``): None once
    retention emptied it."""
    if stored is None:
        return None
    return zlib.decompress(stored) if compressed else stored


class Deliveries:
    """The inbox's writes and reads (the triage lease is in bot/store/delivery_leases.py)."""

    def __init__(self, db: Database, store: Store, outbox: Outbox) -> None:
        self.db = db
        self.store = store
        self.outbox = outbox
        # SQLite has one writer at a time and begins every write transaction with BEGIN
        # IMMEDIATE. This process's writers queue on a lock instead of on SQLite's busy
        # handler, which sleeps in growing steps (up to 100 ms) and turns a burst of
        # deliveries into second-long tails.
        self._write_lock: threading.Lock | None = (
            threading.Lock() if db.dialect.one_writer else None
        )
        self._held: _Held | None = None  # the writer thread's connection
        self._loop_held: _Held | None = None  # the event loop's (SQLite)
        self._loop_turn = threading.Lock()
        self._rows_since_checkpoint = 0
        self._checkpoints = _Checkpointer(db)
        self._pg_writers: dict[asyncio.AbstractEventLoop, _PgLoopWriter] = {}
        if db.dialect.async_intake:  # their connections close with the engine
            event.listen(db.engine, "engine_disposed", self._close_pg_writers)
        self._on_loop: dict[asyncio.AbstractEventLoop, list[_OnLoop]] = {}
        self._intake: GroupCommit[tuple[tuple[Any, ...], int], Accepted] = GroupCommit(
            self._accept_batch,
            name="farcaster-intake-writer",
            on_idle=self._release_driver,
            gather_seconds=INTAKE_GATHER_SECONDS,
        )

    @contextlib.contextmanager
    def writing(self, *, timeout: float = -1) -> Iterator[None]:
        """Hold this process's write turn (SQLite only); StoreUnavailable after ``timeout``."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=timeout):
            raise StoreUnavailable(f"The database is busy: no write turn within {timeout:.1f} s.")
        try:
            yield
        finally:
            self._write_lock.release()

    # -- intake ---------------------------------------------------------------------------

    def accept(self, delivery: IncomingDelivery, *, busy_timeout_ms: int) -> Accepted:
        """Store the delivery; see the module rules. Concurrent calls share one statement
        and one commit (bot/store/group_commit.py). Blocks the calling thread."""
        item = (
            _accepted_row(delivery, compress_body=self.db.dialect.compress_at_intake),
            busy_timeout_ms,
        )
        return self._intake.submit(item, timeout=busy_timeout_ms / 1000)

    async def accept_async(self, delivery: IncomingDelivery, *, busy_timeout_ms: int) -> Accepted:
        """:meth:`accept` awaited in an event loop, which never waits for another writer.

        On SQLite the deliveries that reach this in one turn of the loop are written right
        there, in one transaction, when the write lock is free at once (a write that waits
        for nobody is cheaper on the loop than a thread hop, and a thread that needs the
        interpreter back while the loop is busy gets it every few milliseconds only); else,
        they go to the group commit's writer thread. On PostgreSQL they are written from the
        loop on an async connection of its own (:class:`_PgLoopWriter`)."""
        row = _accepted_row(delivery, compress_body=self.db.dialect.compress_at_intake)
        if self._write_lock is not None:
            accepted = await self._accept_on_loop(row)
            if accepted is not None:
                return accepted
        elif self.db.dialect.async_intake:
            loop = asyncio.get_running_loop()
            writer = self._pg_writers.get(loop)
            if writer is None:
                writer = self._pg_writers[loop] = _PgLoopWriter(self, loop)
            return await writer.submit(row, busy_timeout_ms / 1000)
        item = (row, busy_timeout_ms)
        return await self._intake.submit_async(item, timeout=busy_timeout_ms / 1000)

    def _accept_on_loop(self, row: tuple[Any, ...]) -> "asyncio.Future[Accepted | None]":
        """A future of the row's answer, or of None when the write lock was not free."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Accepted | None] = loop.create_future()
        pending = self._on_loop.setdefault(loop, [])
        pending.append((row, future))
        if len(pending) == 1:  # the first of this turn: write them all at its end
            loop.call_soon(self._write_on_loop, loop)
        return future

    def _write_on_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._on_loop.pop(loop, [])
        try:
            answers = self._write_now([row for row, _ in batch])
        except Exception as exc:  # StoreUnavailable (a read-only file, ...), or a bug
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for n, (_, future) in enumerate(batch):
            if not future.done():
                future.set_result(None if answers is None else answers[n])

    def _write_now(self, rows: list[tuple[Any, ...]]) -> list[Accepted] | None:
        """Write ``rows`` on the loop's own connection if nobody holds the write lock (this
        process's or SQLite's): their answers; None when somebody does."""
        if not self._loop_turn.acquire(blocking=False):  # another loop is writing
            return None
        try:
            lock = cast(threading.Lock, self._write_lock)
            if not lock.acquire(blocking=False):
                return None
            try:
                written = self._write_rows(rows, "_loop_held", busy_ms=0)
            except StoreUnavailable as exc:
                if _locked(exc):
                    return None
                raise
            finally:
                lock.release()
        finally:
            self._loop_turn.release()
        self._checkpoint_now_and_then(len(rows))
        return self._answers(rows, written)

    def _checkpoint_now_and_then(self, rows: int) -> None:
        """Every ``CHECKPOINT_EVERY_ROWS`` rows the loop wrote, it asks the checkpoint thread
        for a WAL checkpoint (no connection checkpoints by itself: bot/store/checkpoints.py)."""
        self._rows_since_checkpoint += rows
        if self._rows_since_checkpoint < CHECKPOINT_EVERY_ROWS:
            return
        self._rows_since_checkpoint = 0
        self._checkpoints.request()

    def _accept_batch(self, items: Sequence[tuple[tuple[Any, ...], int]]) -> list[Accepted]:
        """Write every queued delivery in one transaction (in the writer thread)."""
        busy_ms = min(ms for _, ms in items)
        rows = [row for row, _ in items]

        def write() -> dict[str, str]:
            with self.writing(timeout=busy_ms / 1000):
                return self._write_rows(rows, "_held", busy_ms=busy_ms)

        written = once_more_if_lost(write)
        self.db.checkpoints.committed()  # this thread may wait for a checkpoint; the loop not
        return self._answers(rows, written)

    def _answers(self, rows: list[tuple[Any, ...]], written: dict[str, str]) -> list[Accepted]:
        """Each row's answer. A delivery id stored before, or earlier in the same batch, is a
        duplicate, read back after the write."""
        answers: list[Accepted] = []
        for row in rows:  # a second copy in the batch is a duplicate of the first
            delivery_id = row[0]
            state = written.pop(delivery_id, None)
            if state is not None:
                answers.append(Accepted(delivery_id, new=True, state=state))
                continue
            earlier = self.find(delivery_id)
            state = earlier.state if earlier else UNDECIDED
            answers.append(Accepted(delivery_id, new=False, state=state, earlier=earlier))
        return answers

    def _write_rows(
        self, rows: list[tuple[Any, ...]], slot: str, *, busy_ms: int
    ) -> dict[str, str]:
        """The rows this call wrote, on the connection kept in ``slot``: their state by
        delivery id. The caller holds this process's write turn.

        One INSERT ... ON CONFLICT DO NOTHING RETURNING of all the rows, alone in its
        transaction (the driver's autocommit mode on both engines: on SQLite a lone write
        statement takes the write lock as ``BEGIN IMMEDIATE`` would): one driver call per
        batch, not per delivery, and no BEGIN, COMMIT or read of the ids stored already."""
        dialect = self.db.dialect
        params = [value for row in rows for value in row]
        insert = st.accept_deliveries_sql(dialect, len(rows))
        with self._driver(slot, busy_ms) as driver:
            (returned,) = dialect.write_on_driver(driver, [(insert, params)])
        return {str(delivery_id): str(state) for delivery_id, state in returned}

    @contextlib.contextmanager
    def _driver(self, slot: str, busy_ms: int) -> Iterator[Any]:
        """The driver connection kept in ``slot`` (``_held``: the writer thread's, given back
        when it idles; ``_loop_held``: the event loop's, for SQLite), taken from the pool on
        first use: a pool checkout per batch costs more than a small batch's write. A driver
        error is wrapped as SQLAlchemy wraps it (a connection the server closed, or one the
        dialect says to discard, is invalidated, so the pool forgets it) and translated like
        every store error (bot/store/database.py)."""
        engine, dialect = self.db.engine, self.db.dialect
        with translated_errors():
            held: _Held | None = getattr(self, slot)
            if held is None:
                held = _Held(engine.raw_connection())
                if slot == "_loop_held":  # kept for good: out of the pool's count
                    held.connection.detach()
                setattr(self, slot, held)
            dbapi_connection = held.connection.dbapi_connection
            try:
                if held.busy_ms != busy_ms:
                    dialect.hold_driver(dbapi_connection, busy_timeout_ms=busy_ms)
                    held.busy_ms = busy_ms
                yield dbapi_connection
            except engine.dialect.loaded_dbapi.Error as exc:
                lost = engine.dialect.is_disconnect(
                    exc, dbapi_connection, None
                ) or dialect.discards_connection(exc)
                if lost:
                    held.connection.invalidate(exc)
                    setattr(self, slot, None)
                raise _wrapped(engine.dialect, exc, lost=lost) from exc

    def _close_pg_writers(self, _engine: Any) -> None:
        writers, self._pg_writers = self._pg_writers, {}
        for writer in writers.values():
            writer.close_now()

    def _release_driver(self) -> None:
        """The writer idles: its connection goes back to the pool (in the writer thread)."""
        held, self._held = self._held, None
        if held is None:
            return
        try:
            if held.busy_ms is not None:
                self.db.dialect.release_driver(held.connection.dbapi_connection)
        except Exception:  # a broken connection: the pool discards it
            held.connection.invalidate()
        held.connection.close()

    def check_writable(self) -> None:
        """Write a row and roll it back: StoreUnavailable when the store refuses writes (a
        read-only file, a standby). A connection the server had closed is retried once, as
        in :meth:`accept`."""

        def probe() -> None:
            try:
                with self.writing(), self.db.transaction() as conn:
                    st.probe_write(conn, self.db.now(conn))
                    raise _RolledBack
            except _RolledBack:
                return

        once_more_if_lost(probe)

    def forget_bodies(self, *, retention_seconds: float, now: float | None = None) -> int:
        """Empty the bodies of settled deliveries older than the retention; how many."""
        with self.writing(), self.db.transaction() as conn:
            before = self.db.now(conn, now) - retention_seconds
            return st.forget_delivery_bodies(conn, before=before)

    # -- reads ----------------------------------------------------------------------------

    def find(self, delivery_id: str) -> DeliveryRecord | None:
        with self.db.read() as conn:
            row = st.delivery_by_id(conn, delivery_id)
        return record_from_row(row) if row else None

    def comment_history(self, job_id: str, outbox_keys: Sequence[str]) -> tuple[Job | None, bool]:
        """The job a comment created, if any, and whether feedback about it was queued.

        The outbox is read first: feedback and its job commit together, so once the
        feedback is visible, the job read next is too (no answer is missed in between).
        """
        with self.db.read() as conn:
            answered = st.any_outbox_key_exists(conn, outbox_keys)
            try:
                job = st.get_job(conn, job_id)
            except JobNotFound:
                job = None
            return job, answered

    def recent(self, *, limit: int = 100, state: str | None = None) -> list[DeliveryRecord]:
        with self.db.read() as conn:
            rows = st.deliveries_newest_first(conn, limit=limit, state=state)
        return [record_from_row(r) for r in rows]

    def count(self) -> int:
        with self.db.read() as conn:
            return st.count_deliveries(conn)

    def known(self, delivery_ids: Sequence[str]) -> set[str]:
        """Which of these delivery ids the inbox holds."""
        with self.db.read() as conn:
            return st.delivery_ids_known(conn, delivery_ids)

    def backlog(self) -> tuple[int, float | None]:
        """Undecided deliveries and the oldest one's age in seconds (database clock)."""
        with self.db.read() as conn:
            count, oldest = st.undecided_backlog(conn)
            age = None if oldest is None else max(0.0, self.db.now(conn) - oldest)
        return count, age

    def by_outcome(self) -> dict[str, int]:
        with self.db.read() as conn:
            return st.count_deliveries_by_outcome(conn)


class _Checkpointer:
    """SQLite: the thread that runs the WAL checkpoints intake's loop asks for
    (:meth:`WalCheckpoints.run <bot.store.checkpoints.WalCheckpoints.run>`: under the write
    lock; its writes and fsync release the interpreter). It starts on the first request and
    stays, waiting for the next, until ``IDLE_SECONDS`` pass without one, then ends. Asking is
    setting an event: the loop never starts a thread per checkpoint (that needs the
    interpreter lock handed to another thread and back, which stalled the loop for
    milliseconds). A request while one runs is served once it ends; a failed or skipped
    checkpoint is logged, and the next one, or another writer's turn, catches up."""

    IDLE_SECONDS = 5.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running = False

    def request(self) -> None:
        self._wake.set()
        with self._lock:
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._run, name="farcaster-intake-checkpoint", daemon=True).start()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(self.IDLE_SECONDS):
                with self._lock:
                    if not self._wake.is_set():
                        self._running = False
                        return
            self._wake.clear()
            self.db.checkpoints.run()  # logs its own failures


class _PgLoopWriter:
    """PostgreSQL: intake's writes from one event loop, on an async connection of its own (no
    thread, so nothing waits for the interpreter lock): one INSERT in flight, the next batch
    made of every delivery that arrived meanwhile. The connection closes after
    ``IDLE_SECONDS`` without a delivery, and when the engine is disposed. A write that fails
    on a connection the server closed is tried once more on a fresh one; a store that does
    not answer within the busy timeout, or refuses, raises StoreUnavailable in every caller
    of the batch."""

    IDLE_SECONDS = 5.0
    MAX_BATCH = 64

    def __init__(self, deliveries: "Deliveries", loop: asyncio.AbstractEventLoop) -> None:
        self.deliveries = deliveries
        self.loop = loop
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[Accepted]]] = []
        self.connection: Any = None  # a psycopg.AsyncConnection
        self.running = False
        self.idle: asyncio.TimerHandle | None = None
        self.timeout = 2.0

    def submit(self, row: tuple[Any, ...], timeout: float) -> "asyncio.Future[Accepted]":
        future: asyncio.Future[Accepted] = self.loop.create_future()
        self.pending.append((row, future))
        self.timeout = timeout
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        if not self.running:
            self.running = True
            self.loop.create_task(self.run())
        return future

    async def run(self) -> None:
        try:
            while self.pending:
                batch = self.pending[: self.MAX_BATCH]
                del self.pending[: self.MAX_BATCH]
                try:
                    answers = await self.write([row for row, _ in batch])
                except Exception as exc:  # StoreUnavailable, or a bug: every caller sees it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self.running = False
            if not self.loop.is_closed():
                self.idle = self.loop.call_later(self.IDLE_SECONDS, self.close_idle)

    def close_idle(self) -> None:
        self.idle = None
        if not self.running:
            self.drop()

    def close_now(self) -> None:
        """From any thread, when the engine is disposed: end the connection at once."""
        connection, self.connection = self.connection, None
        if connection is not None and not connection.closed:
            connection.pgconn.finish()

    def drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None and not connection.closed:
            self.loop.create_task(connection.close())

    async def write(self, rows: list[tuple[Any, ...]]) -> list[Accepted]:
        import psycopg

        d = self.deliveries
        sql = st.accept_deliveries_sql(d.db.dialect, len(rows))
        params = [value for row in rows for value in row]
        for attempt in (1, 2):
            try:
                if self.connection is None:
                    cargs, cparams = d.db.engine.dialect.create_connect_args(d.db.engine.url)
                    self.connection = await asyncio.wait_for(
                        psycopg.AsyncConnection.connect(
                            *cargs,
                            autocommit=True,
                            cursor_factory=psycopg.AsyncRawCursor,  # $n, as the SQL has
                            **cparams,
                        ),
                        self.timeout,
                    )
                cursor = await asyncio.wait_for(self.connection.execute(sql, params), self.timeout)
                returned = await cursor.fetchall()
                break
            except TimeoutError:
                self.drop()
                raise StoreUnavailable(
                    f"The database did not answer within {self.timeout:.1f} s."
                ) from None
            except psycopg.Error as exc:
                lost = self.connection is None or self.connection.closed
                if lost or isinstance(exc, psycopg.OperationalError):
                    self.drop()
                    if attempt == 1:
                        continue
                raise _translated(d, exc, lost=lost) from exc
        written = {str(delivery_id): str(state) for delivery_id, state in returned}
        if len(written) == len(rows):
            return [Accepted(row[0], new=True, state=written[row[0]]) for row in rows]
        return await asyncio.to_thread(d._answers, rows, written)  # duplicates: read back


def _wrapped(dialect: Any, exc: Exception, *, lost: bool) -> Exception:
    """A driver error wrapped as SQLAlchemy wraps it: a connection the server closed is marked
    invalidated, so the pool forgets it."""
    return DBAPIError.instance(
        None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
    )


def _translated(deliveries: Deliveries, exc: Exception, *, lost: bool) -> Exception:
    """A driver error as the store reports it (bot/store/database.py)."""
    try:
        with translated_errors():
            raise _wrapped(deliveries.db.engine.dialect, exc, lost=lost)
    except Exception as translated:
        return translated
    return exc  # not reached: the block always raises
