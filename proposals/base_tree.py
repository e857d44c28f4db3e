"""The files a proposal touches, with the bytes git holds at its base SHA (a thin fetch).

Validation applies every hunk to these files, so they must be the real git objects at the
base commit. Reads do not grow with the file count:

1. The base commit's tree is listed recursively, once: every path's mode and blob SHA.
2. When more than ``TARBALL_FROM`` touched files exist at the base, their contents come from
   one tarball of the base SHA; fewer are fetched as blobs, one request each, which is no
   more than the tarball would cost.
3. The tarball is not trusted: ``export-subst`` rewrites files, ``export-ignore`` leaves
   them out, LFS may replace pointers with content. Every file taken from it is hashed as
   git hashes a blob and compared with the tree's SHA; a file that differs or is missing is
   fetched through the API (``GET git/blobs``), so the bytes validated and committed are
   always git's. ``BaseTree.from_api`` names those files.

Git objects at a SHA never change, so the last few results are kept in this process
(``CACHED``): an attempt that resumes after waiting (pacing, a rate limit) reads nothing
again when the same worker claims it.

A path absent from the result does not exist at the base. A submodule is refused here:
Farcaster never changes one. Large repositories get a truncated recursive listing (GitHub
caps it at 100,000 entries); then each touched path is looked up one directory at a time.

Every symbolic link of the base comes along too (``BaseTree.links``, path: target), read
the same way, so that validation follows the proposal's links through the base's (a link
``d/esc -> up/..`` is outside the repository when the base has ``d/up -> ..``). Links are
few and small; with a truncated listing only the touched ones are known.
"""

import io
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import InvalidDiff
from bot.github.client import GitHubClient
from proposals.trees import git_blob_sha
from proposals.validation import SYMLINK_MODE, BaseFile

Entry = dict[str, Any]

# From this many touched files on, one tarball is cheaper than a blob request per file.
TARBALL_FROM = 3
CACHED = 2  # base reads kept per process (each about the size of the files it holds)


@dataclass(frozen=True)
class BaseTree:
    sha: str  # the tree of the base commit: what the new tree is built on
    files: dict[str, BaseFile]
    from_api: tuple[str, ...] = ()  # files whose tarball bytes were not git's (or absent)
    links: dict[str, bytes] = field(default_factory=dict)  # every base symlink: its target


class _Walker:
    """Finds single entries by walking non-recursive trees, each directory fetched once."""

    def __init__(self, gh: GitHubClient, owner: str, repo: str, root: str) -> None:
        self._gh, self._owner, self._repo = gh, owner, repo
        self._listings: dict[str, dict[str, Entry] | None] = {"": self._list(root)}

    def _list(self, sha: str) -> dict[str, Entry]:
        tree = self._gh.get_tree(self._owner, self._repo, sha, recursive=False)
        return {e["path"]: e for e in tree.get("tree", [])}

    def entry(self, path: str) -> Entry | None:
        directory, _, name = path.rpartition("/")
        listing = self._directory(directory)
        return None if listing is None else listing.get(name)

    def _directory(self, path: str) -> dict[str, Entry] | None:
        if path not in self._listings:
            parent = self.entry(path)
            tree_sha = parent["sha"] if parent and parent.get("type") == "tree" else None
            self._listings[path] = self._list(tree_sha) if tree_sha else None
        return self._listings[path]


def _entries(
    gh: GitHubClient, owner: str, repo: str, base_sha: str, wanted: set[str]
) -> tuple[str, dict[str, Entry], dict[str, Entry]]:
    """The tree's SHA, the ``wanted`` entries that exist, and every symlink's entry."""
    tree = gh.get_tree(owner, repo, base_sha, recursive=True)
    if not tree.get("truncated"):
        entries = tree["tree"]
        links = {e["path"]: e for e in entries if e.get("mode") == SYMLINK_MODE}
        return str(tree["sha"]), {e["path"]: e for e in entries if e["path"] in wanted}, links
    walker = _Walker(gh, owner, repo, str(tree["sha"]))
    found = {p: walker.entry(p) for p in sorted(wanted)}
    present = {p: e for p, e in found.items() if e is not None}
    links = {p: e for p, e in present.items() if e.get("mode") == SYMLINK_MODE}
    return str(tree["sha"]), present, links


def tarball_files(archive: bytes, wanted: set[str]) -> dict[str, bytes]:
    """The ``wanted`` paths' bytes in a GitHub tarball (a symlink's bytes are its target).

    Nothing is written to disk and nothing here is trusted: the caller checks every SHA.
    """
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            _, _, path = member.name.partition("/")  # below the owner-repo-sha7/ folder
            if path not in wanted:
                continue
            if member.issym():
                found[path] = member.linkname.encode("utf-8", "surrogateescape")
            elif member.isfile() and (data := tar.extractfile(member)) is not None:
                found[path] = data.read()
    return found


_Key = tuple[str, str, str, frozenset[str]]
_cache: "OrderedDict[_Key, BaseTree]" = OrderedDict()
_cache_lock = threading.Lock()


def fetch_base(
    gh: GitHubClient, owner: str, repo: str, base_sha: str, paths: Iterable[str]
) -> BaseTree:
    """The base commit's tree SHA and those of ``paths`` that exist there, with content."""
    wanted = frozenset(paths)
    key = (owner.lower(), repo.lower(), base_sha, wanted)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    base = _fetch(gh, owner, repo, base_sha, wanted)
    with _cache_lock:
        _cache[key] = base
        while len(_cache) > CACHED:
            _cache.popitem(last=False)
    return base


def _fetch(
    gh: GitHubClient, owner: str, repo: str, base_sha: str, paths: frozenset[str]
) -> BaseTree:
    tree_sha, entries, links = _entries(gh, owner, repo, base_sha, set(paths))
    blobs: dict[str, Entry] = {}
    for path, entry in sorted(entries.items()):
        if entry.get("type") == "commit":
            raise InvalidDiff(
                f"The proposal touches {path}, a submodule; Farcaster does not change submodules.",
                reason_code="submodule",
            )
        if entry.get("type") == "blob":
            blobs[path] = entry
    reads = {**links, **blobs}
    use_tarball = len(reads) >= TARBALL_FROM
    archived: dict[str, bytes] = {}
    if use_tarball:
        archived = tarball_files(gh.download_tarball(owner, repo, base_sha), set(reads))
    contents: dict[str, bytes] = {}
    from_api: list[str] = []
    for path, entry in sorted(reads.items()):
        content = archived.get(path)
        if content is None or git_blob_sha(content) != entry["sha"]:
            if use_tarball:
                from_api.append(path)
            content = gh.get_blob(owner, repo, str(entry["sha"]))
        contents[path] = content
    files = {
        path: BaseFile(path=path, mode=str(entry["mode"]), content=contents[path])
        for path, entry in blobs.items()
    }
    targets = {path: contents[path] for path in links}
    return BaseTree(tree_sha, files, tuple(from_api), targets)
