"""The files of a checkout an agent may read: regular files outside ``.git``, as text.

Which of them a command may touch is decided by its globs (:mod:`bot.core.globs`).
"""

import os
from collections.abc import Iterator
from pathlib import Path

# Enough of a file to tell text from binary the way git does: a NUL byte means binary.
_SNIFF_BYTES = 8000


def repository_files(root: Path) -> Iterator[str]:
    """Every regular file below ``root`` (not through links, never in ``.git``), sorted."""
    for parent, folders, files in os.walk(root):
        folders[:] = sorted(f for f in folders if f != ".git")
        base = Path(parent)
        for name in sorted(files):
            full = base / name
            if full.is_symlink() or not full.is_file():
                continue
            yield full.relative_to(root).as_posix()


def read_text(path: Path) -> str | None:
    """The file as text, or None when it is binary or not UTF-8 (such files are skipped)."""
    return as_text(path.read_bytes())


def as_text(data: bytes) -> str | None:
    """A file's bytes as text, or None when they are binary or not UTF-8."""
    if b"\0" in data[:_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
