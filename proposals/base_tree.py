"""The files a proposal touches, read from the git tree at its base SHA (a thin fetch).

Validation applies every hunk to these files, so they must be the real git objects at the
base commit, never the tarball snapshot (which omits ``export-ignore`` paths and LFS
content). A path absent from the result does not exist at the base. A submodule is refused
here: Farcaster never changes one.

Large repositories get a truncated recursive listing (GitHub caps it at 100,000 entries);
then each touched path is looked up one directory at a time.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.errors import InvalidDiff
from bot.github.client import GitHubClient
from proposals.validation import BaseFile

Entry = dict[str, Any]


@dataclass(frozen=True)
class BaseTree:
    sha: str  # the tree of the base commit: what the new tree is built on
    files: dict[str, BaseFile]


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
) -> tuple[str, dict[str, Entry]]:
    tree = gh.get_tree(owner, repo, base_sha, recursive=True)
    if not tree.get("truncated"):
        return str(tree["sha"]), {e["path"]: e for e in tree["tree"] if e["path"] in wanted}
    walker = _Walker(gh, owner, repo, str(tree["sha"]))
    found = {p: walker.entry(p) for p in sorted(wanted)}
    return str(tree["sha"]), {p: e for p, e in found.items() if e is not None}


def fetch_base(
    gh: GitHubClient, owner: str, repo: str, base_sha: str, paths: Iterable[str]
) -> BaseTree:
    """The base commit's tree SHA and those of ``paths`` that exist there, with content."""
    tree_sha, entries = _entries(gh, owner, repo, base_sha, set(paths))
    files: dict[str, BaseFile] = {}
    for path, entry in sorted(entries.items()):
        if entry.get("type") == "commit":
            raise InvalidDiff(
                f"The proposal touches {path}, a submodule; Farcaster does not change submodules.",
                reason_code="submodule",
            )
        if entry.get("type") == "blob":
            content = gh.get_blob(owner, repo, str(entry["sha"]))
            files[path] = BaseFile(path=path, mode=str(entry["mode"]), content=content)
    return BaseTree(tree_sha, files)
