"""Path rules for proposals (pure): which names a diff may use, how git quotes them, globs.

A path in a proposal is a repository path: relative, ``/``-separated, no empty or ``.``
components. On top of that (reason codes in brackets):

- it must not start with ``/`` [absolute_path];
- it must not have a ``..`` component [parent_path];
- it must not have a ``.git`` component at any depth, in any letter case [git_dir] (case
  matters not: a checkout on macOS or Windows treats ``.GIT/hooks`` as ``.git/hooks``);
- a symlink's target, read from the link's own directory, must stay inside the repository
  and out of ``.git`` [symlink_outside_repo, git_dir]. The check is lexical: it cannot see
  through symlinks already in the tree, which the proposal did not make.

Globs (``allowed_globs``, ``protected_globs``) follow the very rules by which the agents
pick files (``bot.agents.paths``, gitignore-like: ``*.py`` matches at any depth, ``src/pkg``
everything below it): a job limited to ``--path GLOB`` may change what its agent was given.
"""

import re

from bot.agents.paths import matches
from bot.core.errors import InvalidDiff

WORKFLOWS_DIR = ".github/workflows"

# git's C-style quoting (quote.c): these escapes, plus \ooo octal for any other byte.
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def parse_quoted(text: str, start: int = 0) -> tuple[str, int]:
    """Decode the git-quoted name that opens at ``text[start] == '"'``.

    Returns the name and the index just past its closing quote. Raises ValueError when the
    quoting is broken or the bytes are not UTF-8 (git writes non-ASCII bytes as octal).
    """
    if text[start : start + 1] != '"':
        raise ValueError("a quoted name must start with a double quote")
    out = bytearray()
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return out.decode("utf-8"), i + 1
        if char != "\\":
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            i += 2
        elif re.fullmatch(r"[0-3][0-7]{2}", text[i + 1 : i + 4]):
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            raise ValueError(f"unknown escape in quoted name {text[start:]!r}")
    raise ValueError(f"unterminated quoted name {text[start:]!r}")


def check_path(path: str) -> None:
    """Refuse a path the diff may not name at all, whatever the job's limits."""
    if path.startswith("/"):
        raise InvalidDiff(
            f"The diff names the absolute path `{path}`; a proposal may only change files "
            "inside the repository.",
            reason_code="absolute_path",
        )
    parts = path.split("/")
    if ".." in parts:
        raise InvalidDiff(
            f"The diff names `{path}`, which climbs out of its directory with `..`.",
            reason_code="parent_path",
        )
    if any(part.lower() == ".git" for part in parts):
        raise InvalidDiff(
            f"The diff touches `{path}`, inside git's own `.git` directory, which a proposal "
            "may never change.",
            reason_code="git_dir",
        )
    if "" in parts or "." in parts or "\0" in path:
        raise InvalidDiff(
            f"The diff names `{path}`, which is not a plain repository path.",
            reason_code="unparsable_diff",
        )


def is_workflow(path: str) -> bool:
    """True for anything under ``.github/workflows`` (any case: see the module docstring)."""
    lowered = path.lower()
    return lowered == WORKFLOWS_DIR or lowered.startswith(WORKFLOWS_DIR + "/")


def matches_any(path: str, globs: tuple[str, ...]) -> str | None:
    """The first of ``globs`` that matches ``path``, or None (the agents' glob rules)."""
    return next((glob for glob in globs if matches(path, glob)), None)


def symlink_target_problem(link_path: str, target: bytes) -> str | None:
    """Why the symlink at ``link_path`` pointing to ``target`` is refused, or None.

    Returns ``"symlink_outside_repo"`` or ``"git_dir"``.
    """
    if not target or b"\0" in target or target.startswith(b"/"):
        return "symlink_outside_repo"
    resolved = link_path.encode("utf-8", "surrogateescape").split(b"/")[:-1]
    for part in target.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not resolved:
                return "symlink_outside_repo"
            resolved.pop()
        else:
            resolved.append(part)
    if any(part.lower() == b".git" for part in resolved):
        return "git_dir"
    return None
