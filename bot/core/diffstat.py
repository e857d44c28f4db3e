"""Counting what a git diff changes (pure): a statistic for reports, not a check.

A count of line starts, linear in the diff and done by ``str.count``: 10,000 files and
200,000 changed lines count in a few milliseconds (unidiff's full parse took 6 s).
Validation (proposals/validation.py) is what reads a diff exactly; this only counts file
sections (``diff --git``), added lines and removed lines, leaving out the ``---``/``+++``
name lines of git's headers (git writes them with ``a/``, ``b/`` or ``/dev/null``).
"""

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffStat:
    files: int
    additions: int
    deletions: int
    sha256: str


def _lines_starting(text: str, *prefixes: str) -> int:
    return sum(text.count("\n" + p) + text.startswith(p) for p in prefixes)


def diffstat(diff: str) -> DiffStat:
    """Files, added and deleted lines of ``diff`` (text that is not a git diff counts zero)."""
    digest = hashlib.sha256(diff.encode("utf-8", "surrogateescape")).hexdigest()
    files = _lines_starting(diff, "diff --git ")
    if not files:
        return DiffStat(0, 0, 0, digest)
    additions = _lines_starting(diff, "+") - _lines_starting(
        diff, "+++ b/", '+++ "b/', "+++ /dev/null"
    )
    deletions = _lines_starting(diff, "-") - _lines_starting(
        diff, "--- a/", '--- "a/', "--- /dev/null"
    )
    return DiffStat(files, additions, deletions, digest)
