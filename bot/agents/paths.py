"""Which files of a checkout a command may touch (pure matching, one small walk).

Globs follow the habits of ``.gitignore``: a glob without a slash (``*.py``, ``tests``)
matches a file's name or any folder name on its path, at any depth; a glob with a slash
(``src/*.py``, ``docs/**``) matches the path from the repository root, or any folder on it,
so ``src/pkg`` covers everything below ``src/pkg``. ``*`` and ``?`` stop at slashes;
``**`` crosses them. No globs means every file.
"""

import os
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path, PurePosixPath

# Enough of a file to tell text from binary the way git does: a NUL byte means binary.
_SNIFF_BYTES = 8000


@lru_cache(maxsize=256)
def _compile(glob: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            body = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


def matches(path: str, glob: str) -> bool:
    """Whether the repository-relative ``path`` is selected by ``glob`` (rules above)."""
    pattern = glob.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:]
    pattern = pattern.strip("/")
    if not pattern:
        return True
    parts = PurePosixPath(path).parts
    if "/" not in pattern:
        regex = _compile(pattern)
        return any(regex.fullmatch(part) for part in parts)
    regex = _compile(pattern)
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def selected(path: str, globs: Sequence[str]) -> bool:
    return not globs or any(matches(path, glob) for glob in globs)


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
    data = path.read_bytes()
    if b"\0" in data[:_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
