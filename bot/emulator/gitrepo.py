"""A bare git repository driven by git plumbing: the storage behind GitHub's Git Data API.

Every SHA the emulator hands out (blob, tree, commit) is computed by the git CLI, so a
client that builds the same content locally gets the same SHAs. Rules:

- Revisions supplied by callers are resolved with ``rev-parse --end-of-options``, so a
  name starting with ``-`` is never read as an option; unknown names resolve to ``None``.
- Trees are built in a private temporary index (``GIT_INDEX_FILE``), never a shared one,
  so concurrent builds cannot see each other's entries.
- git runs with no system or global configuration: a developer's ``commit.gpgsign`` or
  hooks cannot change the objects written here.
"""

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

ZERO_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree, in every repo
_SHA = re.compile(r"^[0-9a-f]{40}$")


class GitFailed(Exception):
    """git exited non-zero where the emulator expected success (a bug or a broken data dir)."""


class TreeRejected(Exception):
    """A tree change GitHub would refuse (422); the message is GitHub's."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: datetime  # timezone-aware


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    type: str
    sha: str
    size: int | None


@dataclass(frozen=True)
class TreeChange:
    """One entry of a create-tree request: ``sha=None`` and ``content=None`` deletes ``path``."""

    path: str
    mode: str
    type: str
    sha: str | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str
    signed: bool = False


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # added, removed, modified, renamed, copied, changed
    sha: str | None
    additions: int
    deletions: int
    previous_filename: str | None = None


_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied"}


def is_sha(value: str) -> bool:
    return bool(_SHA.match(value))


def git_date(date: datetime) -> str:
    """git's internal date format, keeping the offset so the commit bytes match the input."""
    offset = date.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{int(date.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _parse_person(line: str) -> Person:
    # "Name <email> 1700000000 +0200"
    match = re.match(r"^(.*) <(.*)> (\d+) ([+-])(\d\d)(\d\d)$", line)
    if not match:
        raise GitFailed(f"unreadable signature line: {line!r}")
    name, email, stamp, sign, hours, mins = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(mins)) * (-1 if sign == "-" else 1)
    date = datetime.fromtimestamp(int(stamp), tz=timezone(delta))
    return Person(name, email, date)


class BareRepo:
    """One repository on disk. Not thread-safe by itself: the emulator serialises writers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def init(cls, path: Path, default_branch: str) -> "BareRepo":
        path.parent.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        argv = ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)]
        done = subprocess.run(argv, capture_output=True, env=repo._env())
        if done.returncode != 0:
            raise GitFailed(f"git init failed: {done.stderr.decode(errors='replace')}")
        return repo

    # -- running git ---------------------------------------------------------------------

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
        env.update(extra or {})
        return env

    def run(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        # Always --git-dir: without it git would act on whatever repository the cwd is in.
        argv = ["git", f"--git-dir={self.path}", *args]
        return subprocess.run(argv, input=stdin, capture_output=True, env=self._env(env))

    def git(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        done = self.run(*args, stdin=stdin, env=env)
        if done.returncode != 0:
            raise GitFailed(f"git {args[0]} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode()

    # -- objects -------------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        return self.git("hash-object", "-w", "--stdin", stdin=data).strip()

    def write_blobs(self, contents: list[bytes]) -> list[str]:
        """Write many blobs with one ``hash-object --stdin-paths``; SHAs in input order."""
        if not contents:
            return []
        with tempfile.TemporaryDirectory(dir=self.path) as scratch:
            paths = []
            for number, data in enumerate(contents):
                path = Path(scratch) / str(number)
                path.write_bytes(data)
                paths.append(str(path))
            listing = "\n".join(paths) + "\n"
            out = self.git(
                "hash-object", "-w", "--no-filters", "--stdin-paths", stdin=listing.encode()
            )
        return out.split()

    def resolve(self, rev: str, kind: str = "commit") -> str | None:
        """The SHA of ``rev`` peeled to ``kind`` (commit, tree, blob, object), or None."""
        if not rev or rev.startswith("-") or "\n" in rev:
            return None
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{{kind}}}")
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def resolve_branch_or_sha(self, name: str) -> str | None:
        """A commit named by a full SHA, a branch, or a ``refs/...`` name, as GitHub accepts."""
        if is_sha(name):
            return self.resolve(name)
        if name.startswith("refs/"):
            return self.resolve(name)
        return self.resolve(f"refs/heads/{name}") or self.resolve(f"refs/tags/{name}")

    def object_type(self, sha: str) -> str | None:
        if not is_sha(sha):
            return None
        done = self.run("cat-file", "-t", sha)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def read_blob(self, sha: str) -> bytes | None:
        if self.object_type(sha) != "blob":
            return None
        return self.run("cat-file", "blob", sha).stdout

    def list_tree(self, tree: str, *, recursive: bool) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z", *(["-r", "-t"] if recursive else []), tree]
        entries = []
        for record in self.git(*args).split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(path, mode, kind, sha, None if size == "-" else int(size)))
        return entries

    def build_tree(self, base_tree: str | None, changes: list[TreeChange]) -> str:
        """Apply ``changes`` over ``base_tree`` (or an empty tree) and write the result."""
        files: dict[str, tuple[str, str]] = {}
        if base_tree is not None:
            files = {e.path: (e.mode, e.sha) for e in self.list_tree(base_tree, recursive=True)}
            files = {p: v for p, v in files.items() if v[0] != "040000"}
        # Inline contents become blobs in one git process, not one process per file.
        shas = iter(self.write_blobs([c.content for c in changes if c.content is not None]))
        for change in changes:
            if change.content is not None:
                change = TreeChange(change.path, change.mode, change.type, sha=next(shas))
            self._apply(files, change)
        index_info = "".join(f"{mode} {sha}\t{path}\0" for path, (mode, sha) in files.items())
        with tempfile.TemporaryDirectory(dir=self.path) as scratch:
            env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self.git(
                "update-index", "--add", "-z", "--index-info", stdin=index_info.encode(), env=env
            )
            return self.git("write-tree", env=env).strip()

    def _apply(self, files: dict[str, tuple[str, str]], change: TreeChange) -> None:
        inside = change.path + "/"
        under = [p for p in files if p.startswith(inside)]
        if change.sha is None and change.content is None:
            if change.path not in files and not under:
                raise TreeRejected("GitRPC::BadObjectState")
            for path in [change.path, *under]:
                files.pop(path, None)
            return
        # A file replaces a directory and a directory replaces a file, as git itself would.
        for path in under:
            del files[path]
        parts = change.path.split("/")
        for depth in range(1, len(parts)):
            files.pop("/".join(parts[:depth]), None)
        sha = change.sha
        assert sha is not None  # contents were turned into blob SHAs by build_tree
        if change.type == "tree":
            for entry in self.list_tree(sha, recursive=True):
                if entry.type != "tree":
                    files[f"{change.path}/{entry.path}"] = (entry.mode, entry.sha)
        else:
            files[change.path] = (change.mode, sha)

    def write_commit(
        self, tree: str, parents: list[str], message: str, author: Person, committer: Person
    ) -> str:
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": git_date(author.date),
            "GIT_COMMITTER_NAME": committer.name,
            "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": git_date(committer.date),
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        # The message goes in verbatim through stdin: `-m` would append a newline.
        return self.git(*args, stdin=message.encode(), env=env).strip()

    def write_signed_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        author: Person,
        committer: Person,
        signature: str,
    ) -> str:
        """A commit with a ``gpgsig`` header, as GitHub writes when it signs an App's commit:
        the signature differs each time, so the SHA does too, for identical inputs."""

        def who(person: Person) -> str:
            return f"{person.name} <{person.email}> {git_date(person.date)}"

        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines += [f"author {who(author)}", f"committer {who(committer)}"]
        armour = ["-----BEGIN PGP SIGNATURE-----", "", signature, "-----END PGP SIGNATURE-----"]
        lines.append("gpgsig " + "\n ".join(armour))
        raw = "\n".join(lines) + "\n\n" + message
        return self.git("hash-object", "-t", "commit", "-w", "--stdin", stdin=raw.encode()).strip()

    def read_commit(self, sha: str) -> CommitInfo | None:
        if self.object_type(sha) != "commit":
            return None
        raw = self.run("cat-file", "commit", sha).stdout.decode()
        header, _, message = raw.partition("\n\n")
        tree, parents, people, signed = "", [], {}, False
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            signed = signed or key == "gpgsig"
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key in ("author", "committer"):
                people[key] = _parse_person(value)
        return CommitInfo(
            sha, tree, tuple(parents), people["author"], people["committer"], message, signed
        )

    # -- refs ----------------------------------------------------------------------------

    def ref(self, name: str) -> str | None:
        """The SHA a full ref name (``refs/heads/x``) points at, or None."""
        if not self.valid_ref_name(name):
            return None
        done = self.run("rev-parse", "--verify", "--quiet", "--end-of-options", name)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {name: sha for name, sha in pairs}

    def valid_ref_name(self, name: str) -> bool:
        if not name.startswith("refs/") or name.startswith("-"):
            return False
        return self.run("check-ref-format", name).returncode == 0

    def create_ref(self, name: str, sha: str) -> bool:
        """Create ``name`` at ``sha``; False if it exists already (checked by git atomically)."""
        done = self.run("update-ref", name, sha, ZERO_SHA)
        return done.returncode == 0

    def set_ref(self, name: str, sha: str, expected_old: str | None = None) -> bool:
        args = ["update-ref", name, sha] + ([expected_old] if expected_old else [])
        return self.run(*args).returncode == 0

    def delete_ref(self, name: str, expected_old: str) -> bool:
        return self.run("update-ref", "-d", name, expected_old).returncode == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        done = self.run("merge-base", a, b)
        return done.stdout.decode().strip() if done.returncode == 0 else None

    def count(self, include: str, exclude: str) -> int:
        return int(self.git("rev-list", "--count", include, f"^{exclude}").strip())

    def commits_between(self, exclude: str, include: str, limit: int = 250) -> list[str]:
        out = self.git("rev-list", "--reverse", f"--max-count={limit}", include, f"^{exclude}")
        return out.split()

    def rev_list(self, include: str, exclude: list[str], limit: int) -> list[str]:
        """Commits reachable from ``include`` and from none of ``exclude``, oldest first
        (the newest ``limit`` of them)."""
        args = ["rev-list", f"--max-count={limit}", include, *(f"^{sha}" for sha in exclude)]
        return list(reversed(self.git(*args).split()))

    def paths_changed(self, commit: str) -> tuple[list[str], list[str], list[str]]:
        """(added, removed, modified) paths of ``commit`` against its first parent (all
        added for a root commit), without rename detection, as a push event lists them."""
        info = self.read_commit(commit)
        if info is None:
            raise GitFailed(f"{commit} is not a commit")
        base = info.parents[0] if info.parents else EMPTY_TREE
        out = self.git("diff-tree", "-r", "-z", "--no-commit-id", "--name-status", base, commit)
        fields = out.split("\0")
        added: list[str] = []
        removed: list[str] = []
        modified: list[str] = []
        for letter, path in zip(fields[0::2], fields[1::2], strict=False):
            {"A": added, "D": removed}.get(letter[:1], modified).append(path)
        return added, removed, modified

    def file_diff(self, old: str, new: str, path: str) -> str:
        """The unified diff (3 lines of context) of ``path`` between two commits, from its
        first ``@@`` line; empty when the path did not change."""
        out = self.git("diff-tree", "-p", "-U3", "--no-color", old, new, "--", path)
        start = out.find("\n@@")
        return out[start + 1 :] if start >= 0 else ""

    def merge_tree(self, ours: str, theirs: str) -> str | None:
        """The tree of a clean merge of two commits, or None on a conflict."""
        done = self.run("merge-tree", "--write-tree", ours, theirs)
        if done.returncode != 0:
            return None
        return done.stdout.decode().splitlines()[0].strip()

    # -- comparisons and archives ----------------------------------------------------------

    def diff_files(self, old: str, new: str) -> list[FileChange]:
        raw = self.git("diff-tree", "-r", "-z", "-M", "--no-commit-id", old, new).split("\0")
        stats = self._numstat(old, new)
        changes = []
        i = 0
        while i < len(raw) - 1:
            meta = raw[i].lstrip(":").split()
            new_sha, letter = meta[3], meta[4][0]
            if letter in "RC":
                previous, path = raw[i + 1], raw[i + 2]
                i += 3
            else:
                previous, path = None, raw[i + 1]
                i += 2
            added, deleted = stats.get(path, (0, 0))
            changes.append(
                FileChange(
                    filename=path,
                    status=_STATUS.get(letter, "changed"),
                    sha=None if new_sha == ZERO_SHA else new_sha,
                    additions=added,
                    deletions=deleted,
                    previous_filename=previous,
                )
            )
        return changes

    def _numstat(self, old: str, new: str) -> dict[str, tuple[int, int]]:
        out = self.git("diff-tree", "-r", "-z", "-M", "--numstat", "--no-commit-id", old, new)
        fields = out.split("\0")
        stats: dict[str, tuple[int, int]] = {}
        i = 0
        while i < len(fields) - 1:
            added, deleted, path = fields[i].split("\t", 2)
            if path == "":  # a rename: the two paths follow as their own fields
                path = fields[i + 2]
                i += 3
            else:
                i += 1
            stats[path] = (_int(added), _int(deleted))
        return stats

    def archive(self, sha: str, prefix: str) -> bytes:
        done = self.run("archive", "--format=tar.gz", f"--prefix={prefix}", sha)
        if done.returncode != 0:
            raise GitFailed(f"git archive failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def files_at(self, commit: str) -> dict[str, bytes]:
        """Every blob of ``commit`` by path (for admin inspection, not the API)."""
        return {
            e.path: self.read_blob(e.sha) or b""
            for e in self.list_tree(commit, recursive=True)
            if e.type == "blob"
        }


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0  # "-" for binary files


def utc(date: datetime) -> str:
    """GitHub's timestamp format."""
    return date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
