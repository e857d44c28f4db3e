"""Snapshots: the repository at the job's base commit, unpacked safely and committed as the base.

The runner downloads GitHub's tarball of the base SHA, and :func:`plan_extraction` decides,
as a pure function over the member list, what may be written. It refuses (with
:class:`~bot.core.errors.UnsafeSnapshot`) any member that is absolute, climbs with ``..``,
touches a ``.git`` folder, is a device or fifo, appears twice, sits below a symbolic link,
or is a link that points outside the checkout. It strips the single top-level
``owner-repo-sha/`` folder that GitHub puts around everything.

The unpacked tree is committed into a *private* git repository that lives beside the work
tree, not inside it (the sandbox mounts only the work tree), with a fixed author and date.
The agent works in ``work/`` (with its own copy of that repository at ``work/.git``, so
tools that expect git find one); whatever it does to its copy, the diff is computed by our
repository against the recorded base commit, so the agent cannot hide changes.

The runner's own git never runs anything the agent could have written:

- every call (:func:`run_git`) has a fixed environment (no system or global configuration
  or attributes, no replace objects, no pager, a HOME of its own) and ``-c`` settings
  that turn hooks, fsmonitor and external diff/textconv programs off, and ends within
  :data:`GIT_TIMEOUT_SECONDS` (else ``git_timeout``; the process group is killed);
- filters run only when git's configuration names them, and the only configuration it
  reads is the private repository's own. So its control files (``config``,
  ``info/attributes`` with ``* -filter``, ``info/exclude``, the index, ``HEAD``, and the
  absence of ``config.worktree``, ``commondir``, alternates ...) are sealed after the base
  commit; if any changed while the agent ran, the attempt is refused (``git_dir``) before
  git runs again.

Nothing the agent does to git is dropped quietly: :func:`diff_against_base` refuses
(``git_dir``, naming the paths) any file or folder named ``.git`` in any spelling
(:mod:`bot.core.git_names`) other than the agent's copy, and any change to that copy's
configuration (``config``, ``info/``, ``hooks/``, ...). The copy's bookkeeping (index,
refs, objects, ``HEAD``) is the agent's to use: committing in it is fine.
"""

import contextlib
import enum
import gzip
import hashlib
import io
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bot.core.errors import AgentFailed, GitHubUnavailable, UnsafeSnapshot
from bot.core.git_names import is_git_dir_name
from bot.github.client import GitHubClient

# Far more than any repository we should refactor; a gzip bomb stops here.
MAX_UNPACKED_BYTES = 2 * 1024**3

# The base commit's identity and date are fixed, so the same tree gives the same commit.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Farcaster",
    "GIT_AUTHOR_EMAIL": "farcaster@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "Farcaster",
    "GIT_COMMITTER_EMAIL": "farcaster@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
# Configuration that keeps git from running anything or rewriting bytes on its way in.
_GIT_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.quotePath=false",
    "core.excludesFile=/dev/null",
    "core.attributesFile=/dev/null",
    "core.sparseCheckout=false",
    "core.splitIndex=false",
    "core.untrackedCache=false",
    "core.protectNTFS=true",
    "core.protectHFS=true",
    "commit.gpgSign=false",
    "init.defaultBranch=main",
    "gc.auto=0",
    "maintenance.auto=false",
    "protocol.allow=never",
    "submodule.recurse=false",
)
# Every git call of the runner ends within this: neither a huge tree nor anything planted
# holds a worker slot for long.
GIT_TIMEOUT_SECONDS = 120.0
# The private repository's files git reads as configuration or state, sealed after the base
# commit, and those that must not appear at all.
_SEALED = ("config", "HEAD", "index", "info/attributes", "info/exclude")
_MUST_NOT_EXIST = (
    "config.worktree",
    "commondir",
    "info/sparse-checkout",
    "info/grafts",
    "objects/info/alternates",
    "shallow",
)
# The agent's copy: its configuration is sealed, its bookkeeping (index, HEAD, refs) is not.
_AGENT_SEALED = ("config", "info/attributes", "info/exclude")
# Highest-precedence attributes: store bytes exactly as the tarball had them.
_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding\n"
# New files an agent's tools leave behind that never belong in a proposal.
_EXCLUDES = "__pycache__/\n*.pyc\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\n.ropeproject/\n"


class MemberKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # devices, fifos: never unpacked


@dataclass(frozen=True)
class Member:
    """What the safety rules need to know about one archive member."""

    name: str
    kind: MemberKind
    linkname: str = ""
    mode: int = 0o644
    size: int = 0


@dataclass(frozen=True)
class Planned:
    """A member that may be written: its path inside the checkout and its source index."""

    index: int
    path: PurePosixPath
    kind: MemberKind
    linkname: str = ""
    executable: bool = False


def archive_prefix(names: Sequence[str]) -> str:
    """The one top-level folder that holds every member (``owner-repo-sha``)."""
    tops = {name.lstrip("/").split("/", 1)[0] for name in names}
    if len(tops) != 1:
        raise UnsafeSnapshot(
            f"The repository archive should hold one top-level folder; it holds {len(tops)}."
        )
    return tops.pop()


def relative_member_path(name: str, prefix: str) -> PurePosixPath | None:
    """``name`` inside the checkout, or None for the top-level folder itself.

    Refuses absolute names, ``..``, and anything named ``.git`` (in any letter case).
    """
    if name.startswith("/") or "\0" in name:
        raise UnsafeSnapshot(f"The archive member {name!r} has an absolute path.")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise UnsafeSnapshot(f"The archive member {name!r} climbs out with '..'.")
    if not path.parts or path.parts[0] != prefix:
        raise UnsafeSnapshot(f"The archive member {name!r} is outside the folder {prefix!r}.")
    inner = PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else None
    # Any letter case: on macOS or Windows `.GIT/hooks` is `.git/hooks` (as proposals/paths.py).
    if inner is not None and any(part.lower() == ".git" for part in inner.parts):
        raise UnsafeSnapshot(f"The archive member {name!r} is inside a .git folder.")
    return inner


def link_stays_inside(path: PurePosixPath, target: str) -> bool:
    """Whether a symbolic link at ``path`` pointing at ``target`` resolves inside the root.

    Resolution is lexical; that is enough because no member may sit below a link.
    """
    if not target or target.startswith("/"):
        return False
    depth = len(path.parts) - 1  # folders above the link, counted from the root
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


def plan_extraction(members: Sequence[Member]) -> list[Planned]:
    """Check every member against the rules above; the members to write, in order."""
    if not members:
        return []
    prefix = archive_prefix([m.name for m in members])
    planned: list[Planned] = []
    seen: dict[PurePosixPath, MemberKind] = {}
    folders: set[PurePosixPath] = set()  # named as folders, or implied by a deeper member
    links: set[PurePosixPath] = set()
    for index, member in enumerate(members):
        path = relative_member_path(member.name, prefix)
        if path is None:
            continue
        if member.kind is MemberKind.OTHER:
            raise UnsafeSnapshot(f"The archive member {member.name!r} is a device or a fifo.")
        if path in seen or (path in folders and member.kind is not MemberKind.DIR):
            raise UnsafeSnapshot(f"The archive member {member.name!r} appears twice.")
        if any(parent in links for parent in path.parents):
            raise UnsafeSnapshot(f"The archive member {member.name!r} sits below a link.")
        if any(seen.get(parent, MemberKind.DIR) is not MemberKind.DIR for parent in path.parents):
            raise UnsafeSnapshot(f"The archive member {member.name!r} sits below a file.")
        linkname = member.linkname
        if member.kind is MemberKind.SYMLINK:
            if not link_stays_inside(path, linkname):
                raise UnsafeSnapshot(
                    f"The link {member.name!r} points outside the repository ({linkname!r})."
                )
            links.add(path)
        if member.kind is MemberKind.HARDLINK:
            target = relative_member_path(linkname, prefix)
            if target is None or seen.get(target) is not MemberKind.FILE:
                raise UnsafeSnapshot(
                    f"The hard link {member.name!r} does not point at an earlier file "
                    f"of the repository ({linkname!r})."
                )
            linkname = str(target)
        seen[path] = member.kind
        folders.update(path.parents)
        if member.kind is MemberKind.DIR:
            folders.add(path)
        executable = bool(member.mode & 0o111)
        planned.append(Planned(index, path, member.kind, linkname, executable))
    return planned


def member_of(info: tarfile.TarInfo) -> Member:
    if info.isreg():
        kind = MemberKind.FILE
    elif info.isdir():
        kind = MemberKind.DIR
    elif info.issym():
        kind = MemberKind.SYMLINK
    elif info.islnk():
        kind = MemberKind.HARDLINK
    else:
        kind = MemberKind.OTHER
    return Member(info.name, kind, info.linkname, info.mode, info.size)


# What a truncated or corrupt download raises while it is read.
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def unpack(archive: bytes, dest: Path, *, max_bytes: int = MAX_UNPACKED_BYTES) -> int:
    """Unpack a .tar.gz into the empty folder ``dest`` under the rules; the files written.

    A corrupt archive is most likely a broken download, so it is a retryable
    :class:`~bot.core.errors.GitHubUnavailable`; an archive we refuse is an ``UnsafeSnapshot``.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            infos = tar.getmembers()
            total = sum(i.size for i in infos if i.isreg())
            if total > max_bytes:
                raise UnsafeSnapshot(
                    f"The repository unpacks to {total} bytes, over the limit of {max_bytes}."
                )
            plan = plan_extraction([member_of(i) for i in infos])
            return _write(tar, infos, plan, dest)
    except _CORRUPT as exc:
        raise GitHubUnavailable(
            f"The repository archive from GitHub is incomplete or corrupt ({exc})."
        ) from None


def _write(
    tar: tarfile.TarFile, infos: list[tarfile.TarInfo], plan: list[Planned], dest: Path
) -> int:
    files = 0
    for item in plan:
        target = dest.joinpath(*item.path.parts)
        if item.kind is MemberKind.DIR:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if item.kind is MemberKind.SYMLINK:
            os.symlink(item.linkname, target)
            continue
        if item.kind is MemberKind.HARDLINK:
            source = dest.joinpath(*PurePosixPath(item.linkname).parts)
            data = source.read_bytes()
        else:
            stream = tar.extractfile(infos[item.index])
            data = stream.read() if stream is not None else b""
        mode = 0o755 if item.executable else 0o644
        # O_EXCL and O_NOFOLLOW: never write through anything that already exists.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        files += 1
    return files


# -- the scratch repository -------------------------------------------------------------


# What a sealed file looked like: its SHA-256, or None for "must not exist".
Seal = dict[str, str | None]


@dataclass(frozen=True)
class Snapshot:
    """A checkout of ``base_sha`` in ``work``, committed as ``base_commit`` in ``git_dir``.

    ``seal`` fingerprints ``git_dir``'s control files after the base commit;
    ``agent_seal`` is filled by :func:`give_agent_a_repository` for the agent's copy.
    """

    root: Path
    work: Path
    git_dir: Path
    home: Path
    base_sha: str
    base_commit: str
    seal: Seal = field(default_factory=dict)
    agent_seal: Seal = field(default_factory=dict)


def git_env() -> dict[str, str]:
    """A minimal environment for our git: no user or system configuration or attributes,
    no replace objects, no secrets; HOME is nowhere (the agent's HOME is the agent's)."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": os.devnull,
        "XDG_CONFIG_HOME": os.devnull,
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_PAGER": "cat",
        "GIT_TERMINAL_PROMPT": "0",
        **_IDENTITY,
    }


def run_git(git_dir: Path, work: Path, *args: str, timeout: float = GIT_TIMEOUT_SECONDS) -> bytes:
    """Run our git on ``git_dir`` and ``work``; its output, or an error naming the command.

    Past ``timeout`` its whole process group is killed and the attempt ends with a
    retryable ``git_timeout``.
    """
    argv = ["git", f"--git-dir={git_dir}", f"--work-tree={work}"]
    for setting in _GIT_CONFIG:
        argv += ["-c", setting]
    process = subprocess.Popen(
        [*argv, *args],
        cwd=work,
        env=git_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise AgentFailed(
            f"git {args[0]} on the agent's work tree did not finish within {timeout:g} s.",
            reason_code="git_timeout",
            retryable=True,
        ) from None
    if process.returncode != 0:
        message = err.decode(errors="replace").strip()
        raise RuntimeError(f"git {args[0]} failed ({process.returncode}): {message}")
    return out


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def commit_base(root: Path, base_sha: str) -> Snapshot:
    """Commit ``root/work`` as the base in the private repository ``root/base.git``."""
    work, git_dir, home = root / "work", root / "base.git", root / "home"
    home.mkdir(exist_ok=True)
    run_git(git_dir, work, "init", "--quiet")
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "attributes").write_text(_ATTRIBUTES)
    (git_dir / "info" / "exclude").write_text(_EXCLUDES)
    # --force: every file of the tarball is tracked upstream, even if .gitignore names it.
    run_git(git_dir, work, "add", "--all", "--force")
    run_git(git_dir, work, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "base")
    base_commit = run_git(git_dir, work, "rev-parse", "HEAD").decode().strip()
    seal = _seal(git_dir, _SEALED, _MUST_NOT_EXIST)
    return Snapshot(root, work, git_dir, home, base_sha, base_commit, seal)


def give_agent_a_repository(snapshot: Snapshot) -> None:
    """A copy of the base repository at ``work/.git`` for agents whose tools expect git."""
    agent_git = snapshot.work / ".git"
    shutil.copytree(snapshot.git_dir, agent_git, symlinks=True)
    config = agent_git / "config"
    config.write_text(
        "".join(line for line in config.read_text().splitlines(True) if "worktree" not in line)
    )
    hooks = agent_git / "hooks"
    hook_files = sorted(str(p.relative_to(agent_git)) for p in hooks.rglob("*") if p.is_file())
    snapshot.agent_seal.update(_seal(agent_git, (*_AGENT_SEALED, *hook_files), _MUST_NOT_EXIST))
    snapshot.agent_seal["hooks/"] = _listing(hooks)


def diff_against_base(snapshot: Snapshot) -> bytes:
    """Everything the agent changed in ``work``, as a binary-safe unified diff.

    Refused first (``git_dir``) when the agent touched anything git-owned (module rules).
    """
    s = snapshot
    _refuse_git_changes(s)
    run_git(s.git_dir, s.work, "add", "--all")
    return run_git(
        s.git_dir,
        s.work,
        "diff",
        "--cached",
        "--binary",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--no-color",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        s.base_commit,
        "--",
    )


def _refuse_git_changes(snapshot: Snapshot) -> None:
    changed = [f"../base.git/{name}" for name in _unsealed(snapshot.git_dir, snapshot.seal)]
    agent_git = snapshot.work / ".git"
    for path in git_entries(snapshot.work):
        ours = path == ".git" and snapshot.agent_seal and not agent_git.is_symlink()
        if ours and agent_git.is_dir():
            changed += [f".git/{name}" for name in _unsealed(agent_git, snapshot.agent_seal)]
        else:
            changed.append(path)
    if changed:
        listed = ", ".join(f"`{path}`" for path in changed[:10])
        more = f" and {len(changed) - 10} more" if len(changed) > 10 else ""
        raise AgentFailed(
            f"The agent changed {listed}{more}: git's own files, which a proposal can never "
            "change, so the attempt was refused rather than the change dropped.",
            reason_code="git_dir",
        )


def git_entries(work: Path) -> list[str]:
    """Every file, folder or link in ``work`` named like ``.git`` (any spelling), not below
    another one, as paths relative to ``work``."""
    found = []
    for parent, folders, files in os.walk(work):
        where = os.path.relpath(parent, work)
        for name in [*folders, *files]:
            if is_git_dir_name(name):
                found.append(name if where == "." else f"{where}/{name}")
        folders[:] = [name for name in folders if not is_git_dir_name(name)]
    return sorted(found)


def _seal(git_dir: Path, sealed: Sequence[str], absent: Sequence[str]) -> Seal:
    seal: Seal = {name: _fingerprint(git_dir / name) for name in sealed}
    seal.update({name: None for name in absent})
    return seal


def _unsealed(git_dir: Path, seal: Seal) -> list[str]:
    """The sealed names whose content (or absence) is not what it was."""
    changed = []
    for name, expected in seal.items():
        now = _listing(git_dir / "hooks") if name == "hooks/" else _fingerprint(git_dir / name)
        if now != expected:
            changed.append(name)
    return changed


def _fingerprint(path: Path) -> str | None:
    """SHA-256 of a regular file (never following a link, never waiting on a fifo); None
    when nothing is there; a marker for anything that is not a plain file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        return "not a plain file"
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return "not a plain file"
        return hashlib.sha256(handle.read()).hexdigest()


def _listing(folder: Path) -> str | None:
    """The names below ``folder`` (a new hook is a change even before it has content)."""
    if not folder.is_dir() or folder.is_symlink():
        return None if not os.path.lexists(folder) else "not a folder"
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def take_snapshot(
    client: GitHubClient, owner: str, repo: str, base_sha: str, root: Path
) -> Snapshot:
    """Download ``owner/repo`` at ``base_sha`` into ``root/work`` and commit it as the base."""
    archive = client.download_tarball(owner, repo, base_sha)
    work = root / "work"
    work.mkdir(parents=True)
    unpack(archive, work)
    return commit_base(root, base_sha)


def remove_tree(path: Path) -> None:
    """Remove a scratch folder even where an agent left folders we may not enter or change."""
    if not path.exists():
        return
    os.chmod(path, stat.S_IRWXU)
    # Top-down: each folder is opened up before os.walk lists it.
    for parent, folders, _files in os.walk(path):
        for name in folders:
            folder = os.path.join(parent, name)
            if not os.path.islink(folder):
                os.chmod(folder, stat.S_IRWXU)
    shutil.rmtree(path)
