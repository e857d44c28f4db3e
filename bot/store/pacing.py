"""Pacing content-creating GitHub requests per installation: a token bucket in the store.

GitHub allows about 80 content-creating requests a minute per installation and asks
integrators to space mutating requests by about a second (notes/stage2.md §2.2). Every
worker process shares one bucket per installation, kept in ``pacing_buckets``:

- the bucket holds at most ``burst`` tokens and refills at ``rate`` tokens a second,
  measured on the database clock, so workers on several machines agree;
- each content-creating request takes one token first (:meth:`Pacing.take`, one
  transaction: ``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite);
  an attempt that will make many may take up to a burst at once (below);
- when the bucket is empty nothing is taken and the answer is how long until a token is
  there, never a sleep: the caller gives its job back to the queue for that long
  (``scheduled``), with a little jitter so waiting jobs do not all return at once.

So in any window of ``t`` seconds at most ``burst + rate * t`` requests go out: with the
defaults (1 a second, a burst of 10) at most 70 a minute, under GitHub's 80. A missing row
is a full bucket.

The client's pacer (:func:`pacer`, given to each installation's GitHub client by the
composition root) takes a token before every content-creating request, or raises
:class:`~bot.core.errors.Paced` without sending it. An attempt that knows it will make many
writes (the interpreter: tree chunks, commit, branch, pull request, check run, comment)
opens an :func:`allowance`: its first write takes up to a whole burst at once and the next
ones spend it, so a large proposal waits for a burst at a time, each wait one requeue.
Tokens taken and not spent are not used: the bucket errs on the slow side, never on
GitHub's limit.
"""

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import select

from bot.core.errors import Paced
from bot.store import dialect
from bot.store.database import Database
from bot.store.tables import PACING


@dataclass(frozen=True)
class Bucket:
    rate: float  # tokens a second
    burst: float  # the most tokens the bucket holds


def refilled(tokens: float, since: float, now: float, bucket: Bucket) -> float:
    """The bucket's tokens at ``now``, ``tokens`` having been there at ``since`` (pure)."""
    return min(bucket.burst, tokens + max(0.0, now - since) * bucket.rate)


class Pacing:
    def __init__(
        self, db: Database, bucket: Bucket, *, jitter: Callable[[], float] = random.random
    ) -> None:
        self.db = db
        self.bucket = bucket
        self._jitter = jitter

    def take(self, installation_id: int, count: int = 1, *, now: float | None = None) -> float:
        """Take ``count`` tokens (at most the burst): 0.0 when taken, else the seconds until
        they are there (then nothing was taken)."""
        count = min(count, int(self.bucket.burst))
        bucket = self.bucket
        with self.db.transaction() as conn:
            at = self.db.now(conn, now)
            engine = dialect.of(conn)
            full = {"installation_id": installation_id, "tokens": bucket.burst, "updated_at": at}
            conn.execute(engine.insert_ignoring(PACING, full, key="installation_id"))
            stmt = select(PACING.c.tokens, PACING.c.updated_at).where(
                PACING.c.installation_id == installation_id
            )
            row = conn.execute(engine.lock_row(stmt)).one()
            tokens = refilled(row[0], row[1], at, bucket)
            if tokens < count:
                # Up to half again as long, so jobs that found the bucket empty together
                # come back spread out instead of all at once.
                return (count - tokens) / bucket.rate * (1.0 + 0.5 * self._jitter())
            conn.execute(
                PACING.update()
                .where(PACING.c.installation_id == installation_id)
                .values(tokens=tokens - count, updated_at=at)
            )
            return 0.0

    def fill(self, *, now: float | None = None) -> dict[int, float]:
        """Every known installation's tokens now (for the metrics scrape)."""
        with self.db.read() as conn:
            at = self.db.now(conn, now)
            rows = conn.execute(
                select(PACING.c.installation_id, PACING.c.tokens, PACING.c.updated_at)
            ).all()
        return {int(r[0]): refilled(r[1], r[2], at, self.bucket) for r in rows}


# -- the client's side ------------------------------------------------------------------


@dataclass
class _Allowance:
    want: int  # writes this attempt still expects to make
    left: int = 0  # tokens taken and not yet spent


_ALLOWANCE: ContextVar[_Allowance | None] = ContextVar("farcaster_pacing_allowance", default=None)


@contextmanager
def allowance(writes: int) -> Iterator[None]:
    """Within this block (one thread), expect about ``writes`` content-creating requests."""
    reset = _ALLOWANCE.set(_Allowance(want=max(1, writes)))
    try:
        yield
    finally:
        _ALLOWANCE.reset(reset)


def pacer(pacing: Pacing, installation_id: int) -> Callable[[], None]:
    """What the installation's client calls before each content-creating request."""

    def pace() -> None:
        current = _ALLOWANCE.get()
        if current is not None and current.left > 0:
            current.left -= 1
            current.want = max(1, current.want - 1)
            return
        count = 1 if current is None else max(1, min(int(pacing.bucket.burst), current.want))
        wait = pacing.take(installation_id, count)
        if wait > 0:
            raise Paced(
                f"Pacing GitHub writes for installation {installation_id}: "
                f"the next {count} may go in {wait:.1f} s.",
                retry_after=wait,
            )
        if current is not None:
            current.left = count - 1
            current.want = max(1, current.want - 1)

    return pace
