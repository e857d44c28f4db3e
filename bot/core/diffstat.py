"""Counting what a unified diff changes (pure)."""

import hashlib
from dataclasses import dataclass

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet


@dataclass(frozen=True)
class DiffStat:
    files: int
    additions: int
    deletions: int
    sha256: str


def diffstat(diff: str) -> DiffStat:
    """Files, added and deleted lines of ``diff``; an unparsable diff counts as zero files."""
    digest = hashlib.sha256(diff.encode()).hexdigest()
    try:
        patch = PatchSet(diff)
    except UnidiffParseError:
        return DiffStat(0, 0, 0, digest)
    return DiffStat(len(patch), patch.added, patch.removed, digest)
