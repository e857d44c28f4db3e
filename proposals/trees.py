"""A proposal's new tree, built on GitHub in bounded chunks whose progress is kept.

Writes per pull request do not grow with the file count:

- A text file's new content goes inline, as the ``content`` of its ``POST git/trees`` entry
  (GitHub writes the blob itself). Text means valid UTF-8 without NUL bytes, at most
  ``INLINE_MAX_BYTES``: ``content`` is a JSON string stored as UTF-8, so anything else
  could not come back byte for byte. Binary and oversized files go through ``POST
  git/blobs`` (base64) first, and their entry names the blob's SHA, computed here as git
  does and checked against GitHub's answer.
- Deletions come first, so a path deleted and then written under a new directory of the
  same name never loses the write to a later deletion in another chunk.
- The entries are cut into chunks of at most ``Bounds.max_entries`` entries and
  ``Bounds.max_bytes`` bytes of request body; each chunk is one ``POST git/trees`` on top of
  the previous chunk's tree (``base_tree``), the first on the base commit's tree.

The bounds. GitHub documents no limit, but requests of about 2.5 MB or 200-250 files have
failed with 422 "Sorry, your request timed out" or 502 (notes/stage2.md §2.1). The default
chunk is 100 entries and 1,000,000 bytes, under half of both. When GitHub answers a chunk
with that 422 or a 502, the chunk is sent again at half the size (down to one entry), and the
smaller bounds hold for the rest of the attempt.

Progress. Every chunk's resulting tree SHA is recorded (``Progress.record``) before the next
chunk starts, keyed by how many entries it covers, and each uploaded blob is recorded by its
SHA; a requeued or replayed job continues after the furthest recorded chunk. Trees and blobs
are content-addressed, so a chunk sent twice (a crash between GitHub's answer and the
record) yields the same SHA, and the final tree is the same however the entries were cut.
``before_write`` runs before every request: the interpreter renews its lease there with its
fencing token, so a holder that lost the job stops within one chunk.
"""

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.core.errors import GitHubError, GitHubRefused, GitHubUnavailable
from bot.github.client import GitHubClient
from proposals.validation import FileChange

INLINE_MAX_BYTES = 400_000


@dataclass(frozen=True)
class Bounds:
    """How large one ``POST git/trees`` may be: entries, and bytes of request body."""

    max_entries: int = 100
    max_bytes: int = 1_000_000

    def halved(self) -> "Bounds":
        return Bounds(max(1, self.max_entries // 2), max(1, self.max_bytes // 2))


@dataclass(frozen=True)
class Entry:
    """One path of the new tree: inline text, a blob by SHA, or a deletion (both None)."""

    path: str
    mode: str
    content: str | None = None
    sha: str | None = None

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path, "mode": self.mode, "type": "blob"}
        if self.content is not None:
            entry["content"] = self.content
        else:
            entry["sha"] = self.sha  # None deletes: GitHub needs the explicit null
        return entry

    @property
    def size(self) -> int:
        """About this entry's share of the request body, in bytes."""
        return len(json.dumps(self.as_json()).encode())


@dataclass(frozen=True)
class Plan:
    entries: list[Entry]
    blobs: dict[str, bytes]  # SHA -> content, for binary and oversized files


class Progress(Protocol):
    def furthest(self) -> tuple[int, str] | None:
        """(entries covered, tree SHA) of the furthest recorded chunk, if any."""

    def record(self, end: int, sha: str) -> None:
        """Keep a chunk's tree SHA durably before the next chunk starts (fenced)."""

    def has_blob(self, sha: str) -> bool: ...

    def record_blob(self, sha: str) -> None: ...


def git_blob_sha(data: bytes) -> str:
    """The SHA git gives a blob holding ``data``."""
    # git's object name, not a security boundary
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def inline_text(data: bytes) -> str | None:
    """``data`` as a JSON string GitHub will store byte for byte, or None when it cannot be."""
    if len(data) > INLINE_MAX_BYTES or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def plan(changes: Sequence[FileChange]) -> Plan:
    """The entries of the new tree on top of the base tree, deletions first."""
    written = {c.path for c in changes if c.new_content is not None}
    deletions: list[Entry] = []
    writes: list[Entry] = []
    blobs: dict[str, bytes] = {}
    for change in changes:
        if change.old_path and change.old_path != change.path and change.old_path not in written:
            deletions.append(Entry(change.old_path, change.mode))
        if change.new_content is None:
            deletions.append(Entry(change.path, change.mode))
            continue
        text = inline_text(change.new_content)
        if text is not None:
            writes.append(Entry(change.path, change.mode, content=text))
        else:
            sha = git_blob_sha(change.new_content)
            blobs[sha] = change.new_content
            writes.append(Entry(change.path, change.mode, sha=sha))
    return Plan(deletions + writes, blobs)


def chunk_end(entries: Sequence[Entry], start: int, bounds: Bounds) -> int:
    """Where the chunk that starts at ``start`` ends: at least one entry, then within bounds."""
    end, size = start + 1, entries[start].size
    while end < len(entries) and end - start < bounds.max_entries:
        size += entries[end].size
        if size > bounds.max_bytes:
            break
        end += 1
    return end


def too_large(exc: GitHubError) -> bool:
    """GitHub's answers to a tree request it could not finish in time."""
    if isinstance(exc, GitHubRefused):
        return exc.status == 422 and "timed out" in exc.message
    return isinstance(exc, GitHubUnavailable) and exc.status in (502, 504)


@dataclass
class TreeBuilder:
    gh: GitHubClient
    owner: str
    repo: str
    progress: Progress
    before_write: Callable[[], None]
    bounds: Bounds = Bounds()
    requests: int = 0  # write requests this attempt made (trees and blobs)

    def build(self, base_tree: str, planned: Plan) -> str:
        """The final tree's SHA (the base tree itself when there is nothing to change)."""
        entries = planned.entries
        done, tree = self.progress.furthest() or (0, base_tree)
        while done < len(entries):
            end = chunk_end(entries, done, self.bounds)
            self._upload_blobs(entries[done:end], planned.blobs)
            self.before_write()
            try:
                tree = self._post(tree, entries[done:end])
            except GitHubError as exc:
                if not too_large(exc) or end - done == 1:
                    raise
                self.bounds = self.bounds.halved()
                continue
            self.progress.record(end, tree)
            done = end
        return tree

    def _post(self, base: str, chunk: Sequence[Entry]) -> str:
        self.requests += 1
        return self.gh.create_tree(
            self.owner, self.repo, base_tree=base, entries=[e.as_json() for e in chunk]
        )

    def _upload_blobs(self, chunk: Sequence[Entry], blobs: dict[str, bytes]) -> None:
        for entry in chunk:
            if entry.sha is None or entry.sha not in blobs or self.progress.has_blob(entry.sha):
                continue
            self.before_write()
            self.requests += 1
            sha = self.gh.create_blob(self.owner, self.repo, blobs[entry.sha])
            if sha != entry.sha:
                raise GitHubUnavailable(
                    f"GitHub stored the blob for {entry.path} as {sha[:12]}, not as git's "
                    f"{entry.sha[:12]}."
                )
            self.progress.record_blob(sha)
