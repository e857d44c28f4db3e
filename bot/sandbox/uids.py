"""An unprivileged uid of its own for each sandboxed run on this host.

A root worker runs each agent as a uid from ``[base, base + count)`` that no other run on
the host uses at the same time, so ``RLIMIT_NPROC`` (which counts every process of a uid,
host-wide) limits this run alone, and one agent cannot signal or read another's files. A
uid is held with an exclusive ``flock`` on ``<lock_dir>/uid-<N>.lock`` for as long as the
run lasts; the kernel drops the lock when the holder dies, so a killed worker leaks none.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class NoFreeUid(Exception):
    pass


@contextlib.contextmanager
def hold_uid(lock_dir: Path, base: int, count: int, *, start: int = 0) -> Iterator[int]:
    """A uid nobody else holds, for the ``with`` block; ``start`` spreads the search."""
    lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for step in range(count):
        uid = base + (start + step) % count
        fd = os.open(lock_dir / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # closing releases the lock
        return
    raise NoFreeUid(f"all {count} sandbox uids from {base} are in use on this host")
