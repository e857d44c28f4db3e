"""validate() on diffs that real git writes, as the runner does: each applies back exactly.

``GitDiffer`` turns two trees (path -> (bytes, mode)) into ``git diff --cached --binary -M``
in a scratch repository; the property tests use it too.
"""

import os
import random
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.core.errors import InvalidDiff
from proposals.validation import BaseFile, FileChange, Limits, touched_paths, validate

Tree = dict[str, tuple[bytes, str]]  # path -> (content, git mode)

# Our own settings only: no user or system config may change what git writes.
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
GIT_OPTIONS = ["-c", "core.autocrlf=false", "-c", "core.quotepath=true", "-c", "core.filemode=true"]


class GitDiffer:
    """A scratch repository: each tree is written out and staged, then the index is diffed
    against the first tree's object, as the runner diffs an agent's work."""

    def __init__(self, root: Path) -> None:
        self.work = root
        self._git("init", "-q")

    def _git(self, *args: str) -> bytes:
        env = {**os.environ, **GIT_ENV}
        done = subprocess.run(
            ["git", *GIT_OPTIONS, *args], cwd=self.work, env=env, capture_output=True, check=True
        )
        return done.stdout

    def _stage(self, tree: Tree) -> None:
        for child in self.work.iterdir():
            if child.name == ".git":
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for path, (content, mode) in tree.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == "120000":
                target.symlink_to(os.fsdecode(content))
                continue
            target.write_bytes(content)
            target.chmod(0o755 if mode == "100755" else 0o644)
        self._git("add", "-A")

    def diff(self, before: Tree, after: Tree, *options: str) -> str:
        """The diff from ``before`` to ``after``, decoded as the runner decodes it."""
        self._stage(before)
        base_tree = self._git("write-tree").decode().strip()
        self._stage(after)
        raw = self._git(
            "diff", "--cached", "--binary", "-M", "--no-color", "--no-ext-diff",
            "--src-prefix=a/", "--dst-prefix=b/", *options, base_tree,
        )  # fmt: skip
        return raw.decode("utf-8", "surrogateescape")


def base_files(diff: str, tree: Tree) -> dict[str, BaseFile]:
    """What the interpreter fetches: every touched path that exists in the base tree."""
    return {p: BaseFile(p, tree[p][1], tree[p][0]) for p in touched_paths(diff) if p in tree}


def apply_changes(tree: Tree, changes: Iterable[FileChange]) -> Tree:
    """The tree a commit of ``changes`` on top of ``tree`` holds."""
    result = dict(tree)
    for change in changes:
        if change.old_path is not None:
            del result[change.old_path]
        if change.new_content is None:
            del result[change.path]
        else:
            result[change.path] = (change.new_content, change.mode)
    return result


def round_trip(differ: GitDiffer, before: Tree, after: Tree, *options: str, **limits: bool) -> str:
    diff = differ.diff(before, after, *options)
    changes = validate(diff, base_files(diff, before), Limits(**limits))  # type: ignore[arg-type]
    assert apply_changes(before, changes) == after
    return diff


@pytest.fixture(scope="module")
def differ(tmp_path_factory: pytest.TempPathFactory) -> GitDiffer:
    return GitDiffer(tmp_path_factory.mktemp("git-differ"))


TEXT = "100644"


def test_text_edits_no_newline_and_crlf(differ: GitDiffer) -> None:
    before = {"a.txt": (b"one\ntwo\nthree", TEXT), "win.txt": (b"a\r\nb\r\nc\r\n", TEXT)}
    after = {"a.txt": (b"one\n2\nthree\n", TEXT), "win.txt": (b"a\r\nB\r\nc\r\nd", TEXT)}
    diff = round_trip(differ, before, after)
    assert "\\ No newline at end of file" in diff and "\r\n" in diff


def test_renames_with_and_without_changes_and_a_deletion(differ: GitDiffer) -> None:
    body = b"".join(b"line %d\n" % i for i in range(20))
    before = {
        "old.py": (body, TEXT),
        "moved.py": (body + b"x\n", "100755"),
        "gone": (b"bye\n", TEXT),
    }
    after = {"new.py": (body, TEXT), "dir/moved.py": (body + b"y\n", "100755")}
    diff = round_trip(differ, before, after)
    assert "similarity index 100%" in diff and "rename from moved.py" in diff


def test_unicode_names_spaces_and_a_mode_change(differ: GitDiffer) -> None:
    before = {"é/ü.txt": (b"x\n", TEXT), "my dir/a b.sh": (b"echo\n", TEXT)}
    after = {"é/ü.txt": (b"y\n", TEXT), "my dir/a b.sh": (b"echo\n", "100755")}
    diff = round_trip(differ, before, after)
    assert '"a/\\303\\251/\\303\\274.txt"' in diff
    assert "old mode 100644" in diff


def test_empty_files_appear_and_disappear(differ: GitDiffer) -> None:
    before = {"empty": (b"", TEXT), "full": (b"x\n", TEXT)}
    after = {"full": (b"", TEXT), "new-empty": (b"", TEXT), "filled": (b"now\n", TEXT)}
    round_trip(differ, before, after)


def test_a_zero_context_diff(differ: GitDiffer) -> None:
    before = {"f": (b"".join(b"%d\n" % i for i in range(30)), TEXT)}
    after = {"f": (b"top\n" + before["f"][0].replace(b"7\n", b"seven\n") + b"end\n", TEXT)}
    assert "@@ -0,0 +1 @@" in round_trip(differ, before, after, "-U0")


def test_a_file_becomes_a_symlink_and_a_symlink_is_made(differ: GitDiffer) -> None:
    before = {"cfg": (b"x\n", TEXT), "conf/real": (b"y\n", TEXT)}
    after = {
        "cfg": (b"conf/real", "120000"),
        "conf/link": (b"real", "120000"),
        "conf/real": (b"y\n", TEXT),
    }
    round_trip(differ, before, after)


def test_a_new_binary_file_is_a_literal_and_a_changed_one_a_delta(differ: GitDiffer) -> None:
    blob = bytes(range(256)) * 40
    before = {"old.bin": (blob, TEXT)}
    after = {
        "old.bin": (blob[:5000] + b"\0changed\0" + blob[5000:], TEXT),
        "new.bin": (blob[::-1], TEXT),
    }
    diff = round_trip(differ, before, after, allow_binary=True)
    assert "\nliteral " in diff and "\ndelta " in diff


def test_real_git_binary_patches_are_refused_by_default(differ: GitDiffer) -> None:
    diff = differ.diff({}, {"new.bin": (b"\0\1\2", TEXT)})
    with pytest.raises(InvalidDiff) as caught:
        validate(diff, {}, Limits())
    assert caught.value.reason_code == "binary_not_allowed"


def test_a_binary_delta_against_other_bytes_is_a_context_mismatch(differ: GitDiffer) -> None:
    blob = bytes(range(256)) * 40
    diff = differ.diff({"b.bin": (blob, TEXT)}, {"b.bin": (blob + b"\0more", TEXT)})
    assert "\ndelta " in diff
    with pytest.raises(InvalidDiff) as caught:
        validate(diff, {"b.bin": BaseFile("b.bin", TEXT, blob[1:])}, Limits(allow_binary=True))
    assert caught.value.reason_code == "context_mismatch"
    assert "`b.bin`" in caught.value.message


def test_a_binary_literal_for_a_changed_file_is_checked_against_its_base(
    differ: GitDiffer,
) -> None:
    # Unrelated bytes make git write whole literals; the reverse one pins the base.
    old, new = random.Random(1).randbytes(3000), random.Random(2).randbytes(3000)
    diff = differ.diff({"b.bin": (old, TEXT)}, {"b.bin": (new, TEXT)})
    assert "\nliteral 3000" in diff and "\ndelta " not in diff
    limits = Limits(allow_binary=True)
    assert validate(diff, {"b.bin": BaseFile("b.bin", TEXT, old)}, limits) == [
        FileChange("b.bin", new, TEXT)
    ]
    with pytest.raises(InvalidDiff) as caught:
        validate(diff, {"b.bin": BaseFile("b.bin", TEXT, old[:-1] + b"!")}, limits)
    assert caught.value.reason_code == "context_mismatch"


def test_deleting_a_binary_file_needs_no_permission_but_the_right_base(differ: GitDiffer) -> None:
    blob = random.Random(3).randbytes(500)
    diff = round_trip(differ, {"gone.bin": (blob, TEXT)}, {})
    assert "GIT binary patch" in diff
    with pytest.raises(InvalidDiff) as caught:
        validate(diff, {"gone.bin": BaseFile("gone.bin", TEXT, blob[1:])}, Limits())
    assert caught.value.reason_code == "context_mismatch"
