"""Path globs, as the agents pick files and as proposals are limited (pure).

Globs follow the habits of ``.gitignore``: a glob without a slash (``*.py``, ``tests``)
matches a file's name or any folder name on its path, at any depth; a glob with a slash
(``src/*.py``, ``docs/**``) matches the path from the repository root, or any folder on it,
so ``src/pkg`` covers everything below ``src/pkg``. ``*`` and ``?`` stop at slashes;
``**`` crosses them. No globs means every file.
"""

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import PurePosixPath


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
    if not pattern or pattern == "**":  # everything (the default of every job's limits)
        return True
    parts = PurePosixPath(path).parts
    if "/" not in pattern:
        regex = _compile(pattern)
        return any(regex.fullmatch(part) for part in parts)
    regex = _compile(pattern)
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1))


def selected(path: str, globs: Sequence[str]) -> bool:
    return not globs or any(matches(path, glob) for glob in globs)
