"""Path rules for proposals (pure): which names a diff may use, how git quotes them, globs.

A path in a proposal is a repository path: relative, ``/``-separated, no empty or ``.``
components. On top of that (reason codes in brackets):

- it must not start with ``/`` [absolute_path];
- it must not have a ``..`` component [parent_path];
- it must not have a ``.git`` component at any depth, in any letter case or spelling that
  some checkout treats as ``.git`` [git_dir]: ``.GIT/hooks`` is ``.git/hooks`` on macOS
  and Windows, NTFS also ignores trailing dots and spaces and knows ``GIT~1``, and HFS+
  ignores zero-width characters (git's own ``protectNTFS``/``protectHFS`` rules);
- no component may hold a control character (newline, tab, escape, DEL ...)
  [bad_file_name]: such names break tools and logs, and hide in reports;
- a symlink is followed through the whole proposed tree, links included, as the kernel
  would follow it in a clone: every link the proposal writes, and every link whose
  resolution it changes, must end inside the repository and out of ``.git``
  [symlink_outside_repo, git_dir] (:func:`link_problems`). A link that resolved badly at
  the base already is the base's, not the proposal's.

Globs (``allowed_globs``, ``protected_globs``) follow the very rules by which the agents
pick files (``bot.core.globs``, gitignore-like: ``*.py`` matches at any depth, ``src/pkg``
everything below it): a job limited to ``--path GLOB`` may change what its agent was given.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.errors import InvalidDiff
from bot.core.git_names import is_git_dir_name
from bot.core.globs import matches

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
    if any(is_git_dir_name(part) for part in parts):
        raise InvalidDiff(
            f"The diff touches `{path}`, inside git's own `.git` directory, which a proposal "
            "may never change.",
            reason_code="git_dir",
        )
    if any(unicodedata.category(char) == "Cc" for char in path):
        raise InvalidDiff(
            f"The diff names {path!r}, a file name holding a control character (a newline, "
            "tab or the like), which a proposal may not create.",
            reason_code="bad_file_name",
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


# As Linux: a path that needs more links than this to resolve does not resolve (ELOOP).
MAX_LINK_HOPS = 40


@dataclass(frozen=True)
class LinkProblem:
    path: str
    target: bytes
    problem: str  # "symlink_outside_repo" | "git_dir"
    through: tuple[str, ...]  # the other links its resolution followed, in order


def link_problems(
    proposed: Mapping[str, bytes], base: Mapping[str, bytes], written: set[str]
) -> list[LinkProblem]:
    """The links of the proposed tree that resolve outside the repository or into ``.git``.

    ``proposed`` and ``base`` map each symlink path of the tree (as far as it is known) to
    its target; ``written`` holds the links the proposal writes. A link is refused when the
    proposal wrote it, or when it resolved well at the base: the proposal changed its way.
    """
    found = []
    for path, target in sorted(proposed.items()):
        result = _follow(path, target, proposed)
        if result.problem is None:
            continue
        if path not in written and _follow(path, base.get(path, target), base).problem:
            continue  # as bad at the base: not this proposal's doing
        found.append(LinkProblem(path, target, result.problem, result.through))
    return found


@dataclass(frozen=True)
class _Followed:
    problem: str | None
    through: tuple[str, ...] = ()


def _follow(link_path: str, target: bytes, links: Mapping[str, bytes]) -> _Followed:
    """Resolve the link at ``link_path`` as the kernel would, following ``links`` on the way."""
    resolved = link_path.encode("utf-8", "surrogateescape").split(b"/")[:-1]
    pending = target.split(b"/")
    through: list[str] = []
    if not target or b"\0" in target or target.startswith(b"/"):
        return _Followed("symlink_outside_repo")
    while pending:
        part = pending.pop(0)
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not resolved:
                return _Followed("symlink_outside_repo", tuple(through))
            resolved.pop()
            continue
        resolved.append(part)
        here = b"/".join(resolved).decode("utf-8", "surrogateescape")
        next_target = links.get(here)
        if next_target is None:
            continue
        if len(through) >= MAX_LINK_HOPS:
            return _Followed(None, tuple(through))  # a loop resolves to nothing at all
        through.append(here)
        if not next_target or b"\0" in next_target or next_target.startswith(b"/"):
            return _Followed("symlink_outside_repo", tuple(through))
        resolved.pop()
        pending = next_target.split(b"/") + pending
    if any(is_git_dir_name(part.decode("utf-8", "surrogateescape")) for part in resolved):
        return _Followed("git_dir", tuple(through))
    return _Followed(None, tuple(through))
