"""Chunked trees: bounded requests, inline text, blobs only where needed, progress kept."""

from typing import Any, cast

import pytest

from bot.core.errors import GitHubRefused, GitHubUnavailable
from bot.github.client import GitHubClient
from proposals.trees import Bounds, TreeBuilder, chunk_end, git_blob_sha, inline_text, plan
from proposals.validation import FileChange

TIMED_OUT = "Sorry, your request timed out. It's likely that your input was too large to process."


class Trees:
    """GitHub's tree and blob writes, as a dict of paths: each tree is its files."""

    def __init__(self, refuse_over: int | None = None) -> None:
        self.trees: dict[str, dict[str, Any]] = {"base": {"keep.txt": "k", "old.txt": "o"}}
        self.blobs: dict[str, bytes] = {}
        self.calls: list[tuple[str, int]] = []
        self.refuse_over = refuse_over

    def create_tree(
        self, owner: str, repo: str, *, base_tree: str, entries: list[dict[str, Any]]
    ) -> str:
        self.calls.append(("tree", len(entries)))
        if self.refuse_over is not None and len(entries) > self.refuse_over:
            raise GitHubRefused(f"GitHub answered 422: {TIMED_OUT}", status=422)
        files = dict(self.trees[base_tree])
        for e in entries:
            if "content" in e:
                files[e["path"]] = e["content"]
            elif e["sha"] is None:
                del files[e["path"]]
            else:
                files[e["path"]] = self.blobs[e["sha"]]
        sha = f"t{len(self.trees)}:{sorted(files.items())!r}"
        self.trees[sha] = files
        return sha

    def create_blob(self, owner: str, repo: str, content: bytes) -> str:
        self.calls.append(("blob", 1))
        self.blobs[git_blob_sha(content)] = content
        return git_blob_sha(content)


class Kept:
    def __init__(self) -> None:
        self.chunks: dict[int, str] = {}
        self.blob_shas: set[str] = set()

    def furthest(self) -> tuple[int, str] | None:
        return max(self.chunks.items(), default=None)

    def record(self, end: int, sha: str) -> None:
        self.chunks[end] = sha

    def has_blob(self, sha: str) -> bool:
        return sha in self.blob_shas

    def record_blob(self, sha: str) -> None:
        self.blob_shas.add(sha)


def builder(gh: Trees, kept: Kept, bounds: Bounds, holds: list[int] | None = None) -> TreeBuilder:
    hold = (lambda: holds.append(1)) if holds is not None else (lambda: None)
    return TreeBuilder(cast(GitHubClient, gh), "o", "r", kept, hold, bounds)


def many(n: int) -> list[FileChange]:
    return [FileChange(f"f{i:03}.py", f"line {i}\n".encode(), "100644") for i in range(n)]


def test_text_goes_inline_binary_and_undecodable_bytes_become_blobs() -> None:
    assert inline_text("é\r\n".encode()) == "é\r\n"
    assert inline_text(b"\xff") is None and inline_text(b"a\0b") is None
    planned = plan(
        [
            FileChange("a.txt", b"text\n", "100644"),
            FileChange("b.bin", b"\x89PNG\0", "100644"),
            FileChange("old.txt", None, "100644"),
        ]
    )
    assert [(e.path, e.content is not None, e.sha) for e in planned.entries] == [
        ("old.txt", False, None),  # deletions first
        ("a.txt", True, None),
        ("b.bin", False, git_blob_sha(b"\x89PNG\0")),
    ]
    gh, kept = Trees(), Kept()
    tree = builder(gh, kept, Bounds()).build("base", planned)
    assert gh.trees[tree] == {"keep.txt": "k", "a.txt": "text\n", "b.bin": b"\x89PNG\0"}
    assert gh.calls == [("blob", 1), ("tree", 3)]


def test_chunks_stay_within_entries_and_bytes_and_chain_on_the_previous_tree() -> None:
    entries = plan(many(250)).entries
    assert chunk_end(entries, 0, Bounds(100, 10**9)) == 100
    assert chunk_end(entries, 200, Bounds(100, 10**9)) == 250
    one = entries[0].size
    assert chunk_end(entries, 0, Bounds(100, 3 * one)) == 3
    assert chunk_end(entries, 0, Bounds(100, 1)) == 1  # one entry always goes
    gh, kept, holds = Trees(), Kept(), []
    tree = builder(gh, kept, Bounds(100, 10**9), holds).build("base", plan(many(250)))
    assert gh.calls == [("tree", 100), ("tree", 100), ("tree", 50)]
    assert sorted(kept.chunks) == [100, 200, 250] and kept.chunks[250] == tree
    assert len(holds) == 3  # the lease is renewed before every write
    assert len(gh.trees[tree]) == 252


class Crash(Exception):
    pass


class CrashAfterFirstChunk(Kept):
    def record(self, end: int, sha: str) -> None:
        super().record(end, sha)
        raise Crash


def test_a_requeued_build_continues_after_the_furthest_chunk_and_ends_on_the_same_tree() -> None:
    whole = Trees()
    expected = whole.trees[
        builder(whole, Kept(), Bounds(100, 10**9)).build("base", plan(many(250)))
    ]
    gh, crashed = Trees(), CrashAfterFirstChunk()
    with pytest.raises(Crash):
        builder(gh, crashed, Bounds(100, 10**9)).build("base", plan(many(250)))
    assert list(crashed.chunks) == [100]
    gh.calls.clear()
    kept = Kept()
    kept.chunks = dict(crashed.chunks)
    tree = builder(gh, kept, Bounds(100, 10**9)).build("base", plan(many(250)))
    assert gh.calls == [("tree", 100), ("tree", 50)]
    assert gh.trees[tree] == expected


def test_a_timed_out_tree_is_sent_again_in_halves() -> None:
    gh, kept = Trees(refuse_over=30), Kept()
    tree = builder(gh, kept, Bounds(100, 10**9)).build("base", plan(many(120)))
    assert gh.calls[:3] == [("tree", 100), ("tree", 50), ("tree", 25)]
    assert all(n <= 25 for kind, n in gh.calls[3:])
    assert len(gh.trees[tree]) == 122


def test_a_single_entry_that_still_fails_is_not_retried_forever() -> None:
    gh = Trees(refuse_over=0)
    with pytest.raises(GitHubRefused):
        builder(gh, Kept(), Bounds(4, 10**9)).build("base", plan(many(4)))
    assert [n for _, n in gh.calls] == [4, 2, 1]


def test_other_errors_are_not_taken_for_a_size_problem() -> None:
    class Down(Trees):
        def create_tree(self, *args: Any, **kwargs: Any) -> str:
            raise GitHubUnavailable("GitHub answered 503", status=503)

    with pytest.raises(GitHubUnavailable):
        builder(Down(), Kept(), Bounds()).build("base", plan(many(3)))
