"""Deciding whether a proposal's diff may be committed, and exactly what it commits (pure).

The interpreter reads the diff once with ``read_diff(diff)``, asks ``touched_paths`` of it to
learn which base files to fetch (with the bytes git holds at the job's base SHA, never an
unchecked tarball, which can differ), then ``validate(parsed, base_files, limits)``: it either
refuses with ``InvalidDiff`` or returns one ``FileChange`` per path the commit writes or
deletes, with its exact bytes and git mode. Both also accept the diff's text (parsed anew).
Agents propose, the system decides: nothing here trusts the diff beyond what it can check.

The first failure refuses the whole proposal. Checks run in the order of this table (reading
the diff, its names, the job's policy, the base, then what would be written), except that
a malformed hunk or a path changed twice is found as late as the step that sees it. Each
reason code is stable; its message is one sentence naming the path, like these:

======================  ==========================================================================
reason_code             message
======================  ==========================================================================
empty_diff              The proposal's diff is empty: there is nothing to commit.
diff_too_large          The diff is 6,000,000 bytes, over the limit of 5,000,000 bytes.
unparsable_diff         The diff could not be read: <what, and where>.
absolute_path           The diff names the absolute path `/etc/x`; a proposal may only change
                        files inside the repository.
parent_path             The diff names `../x`, which climbs out of its directory with `..`.
git_dir                 The diff touches `.git/config`, inside git's own `.git` directory, which
                        a proposal may never change. (Also: a symlink pointing into `.git`.)
bad_file_name           The diff names 'a\\nb.py', a file name holding a control character
                        (a newline, tab or the like), which a proposal may not create.
workflow_not_allowed    `.github/workflows/ci.yml` is a GitHub Actions workflow, and this
                        installation does not let Farcaster change workflows.
path_not_allowed        `docs/x.md` is outside the paths this job may change (`src/**`).
                        / `setup.py` is protected (`setup.py`), so no proposal may change it.
binary_not_allowed      `logo.png` is a binary change, and binary changes are not allowed here.
missing_base_file       The diff changes `a.py`, which does not exist at the base commit.
file_exists             The diff creates `a.py`, which already exists at the base commit.
context_mismatch        Hunk 2 of `a.py` (@@ -10,3 +10,4 @@) does not match the base file at
                        line 11, so the proposal was not made against the base commit.
file_too_large          `data.json` would be 2,000,000 bytes, over the limit of 1,000,000 bytes
                        per file.
symlink_outside_repo    The symlink `docs/link` points to `../../etc`, outside the repository.
                        / The symlink `d/e/esc` points to `up/../..` (through the link
                        `d/e/up`), outside the repository.
======================  ==========================================================================

Policy (workflows, globs) applies to every path the diff names, old and new: a rename out
of an allowed path deletes it. Deleting a binary file is not a binary change. Every file the
commit writes, renamed or not, must fit ``max_file_bytes``. Each patch reads its file as it
is at the base, as git does; a path may be changed by one patch only, except that a file
may be deleted (or renamed away) and created anew, which is how git shows a file turning
into a symlink. A binary change (``allow_binary``) is held to its base like a hunk: git's
reverse block must turn the new bytes back into the base's.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.errors import InvalidDiff
from proposals.hunks import (
    HunkMismatch,
    MalformedHunk,
    TooLarge,
    apply_delta,
    apply_hunks,
    inflate,
)
from proposals.patches import FILE_MODES, BinaryBlock, FilePatch, parse_diff, unparsable
from proposals.paths import check_path, is_workflow, link_problems, matches_any

# git's mode for a symbolic link (the blob is its target).
SYMLINK_MODE = "120000"


@dataclass(frozen=True)
class BaseFile:
    """A file at the job's base SHA with git's bytes (a tarball's only where they hash to the
    tree's blob SHA: proposals/base_tree.py)."""

    path: str
    mode: str  # git mode: "100644", "100755", "120000" (symlink; content = target)
    content: bytes


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 1_000_000
    max_diff_bytes: int = 5_000_000
    allow_binary: bool = False
    allowed_globs: tuple[str, ...] = ("**",)
    protected_globs: tuple[str, ...] = ()
    allow_workflows: bool = False


@dataclass(frozen=True)
class FileChange:
    """What gets committed for one path."""

    path: str
    new_content: bytes | None  # None = delete the file
    mode: str  # "100644" / "100755" / "120000"
    old_path: str | None = None  # set for renames (the old path is deleted)


@dataclass(frozen=True)
class ParsedDiff:
    """A diff read once (its paths checked), for ``touched_paths`` and ``validate`` to share."""

    patches: list[FilePatch]
    size: int  # bytes, as UTF-8 with surrogateescape


def read_diff(diff: str) -> ParsedDiff:
    """Parse ``diff``; raises InvalidDiff for an empty or unparsable diff, or a forbidden path."""
    _check_not_empty(diff)
    return ParsedDiff(_read(diff), _size(diff))


def touched_paths(diff: str | ParsedDiff) -> list[str]:
    """Base paths the diff reads or creates (to fetch from the base tree), in diff order.

    Raises InvalidDiff for an empty or unparsable diff, or one naming a forbidden path.
    """
    patches = diff.patches if isinstance(diff, ParsedDiff) else _read(diff)
    return list(dict.fromkeys(path for patch in patches for path in patch.paths))


def validate(
    diff: str | ParsedDiff,
    base_files: Mapping[str, BaseFile],
    limits: Limits,
    base_links: Mapping[str, bytes] | None = None,
) -> list[FileChange]:
    """Refuse with InvalidDiff(message, reason_code=...) or return the exact new content of
    every touched file. ``base_files`` holds every path of ``touched_paths(diff)`` that exists
    at the base (absent = does not exist); ``base_links`` any other symlinks of the base
    (path: target) that links are resolved through."""
    if isinstance(diff, str):
        _check_not_empty(diff)
    size = diff.size if isinstance(diff, ParsedDiff) else _size(diff)
    if size > limits.max_diff_bytes:
        raise InvalidDiff(
            f"The diff is {size:,} bytes, over the limit of {limits.max_diff_bytes:,} bytes.",
            reason_code="diff_too_large",
        )
    patches = diff.patches if isinstance(diff, ParsedDiff) else _read(diff)
    for patch in patches:
        _check_policy(patch, limits)
    _check_plan(patches, base_files)
    changes = _changes(patches, base_files, limits)
    for change in changes:
        _check_written(change, limits)
    _check_links(changes, base_files, base_links or {})
    return changes


def _size(diff: str) -> int:
    return len(diff.encode("utf-8", "surrogateescape"))


def _check_not_empty(diff: str) -> None:
    if not diff.strip():
        raise InvalidDiff(
            "The proposal's diff is empty: there is nothing to commit.", reason_code="empty_diff"
        )


def _read(diff: str) -> list[FilePatch]:
    _check_not_empty(diff)
    patches = parse_diff(diff)
    for patch in patches:
        for path in patch.paths:
            check_path(path)
    return patches


def _check_policy(patch: FilePatch, limits: Limits) -> None:
    """The job's and installation's limits on what may change."""
    for path in patch.paths:
        if is_workflow(path) and not limits.allow_workflows:
            raise InvalidDiff(
                f"`{path}` is a GitHub Actions workflow, and this installation does not let "
                "Farcaster change workflows.",
                reason_code="workflow_not_allowed",
            )
        if matches_any(path, limits.allowed_globs) is None:
            allowed = ", ".join(f"`{glob}`" for glob in limits.allowed_globs) or "none"
            raise InvalidDiff(
                f"`{path}` is outside the paths this job may change ({allowed}).",
                reason_code="path_not_allowed",
            )
        if protected := matches_any(path, limits.protected_globs):
            raise InvalidDiff(
                f"`{path}` is protected (`{protected}`), so no proposal may change it.",
                reason_code="path_not_allowed",
            )
    if patch.is_binary and patch.operation != "delete" and not limits.allow_binary:
        raise InvalidDiff(
            f"`{patch.new_path}` is a binary change, and binary changes are not allowed here.",
            reason_code="binary_not_allowed",
        )


def _check_plan(patches: list[FilePatch], base_files: Mapping[str, BaseFile]) -> None:
    """Each path is changed once (or deleted and created anew) and exists, or not, as the
    diff assumes."""
    roles: dict[str, list[str]] = {}
    for patch in patches:
        if patch.operation == "modify":
            roles.setdefault(patch.path, []).append("modify")
            continue
        if patch.old_path is not None:
            role = "read" if patch.operation == "copy" else "remove"
            roles.setdefault(patch.old_path, []).append(role)
        if patch.new_path is not None:
            roles.setdefault(patch.new_path, []).append("create")
    for path, kinds in roles.items():
        changes = sorted(kind for kind in kinds if kind != "read")
        if changes not in ([], ["modify"], ["create"], ["remove"], ["create", "remove"]):
            raise unparsable(f"it changes `{path}` more than once")
        if path not in base_files and changes != ["create"]:
            verb = "changes" if "modify" in changes else "renames, copies or deletes"
            raise InvalidDiff(
                f"The diff {verb} `{path}`, which does not exist at the base commit.",
                reason_code="missing_base_file",
            )
        if path in base_files and changes == ["create"]:
            raise InvalidDiff(
                f"The diff creates `{path}`, which already exists at the base commit.",
                reason_code="file_exists",
            )
    written = {path for path, kinds in roles.items() if "create" in kinds or "modify" in kinds}
    for path in written:
        parents = path.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            if "/".join(parents[:depth]) in written:
                raise unparsable(f"it writes `{path}` inside `{'/'.join(parents[:depth])}`")


def _changes(
    patches: list[FilePatch], base_files: Mapping[str, BaseFile], limits: Limits
) -> list[FileChange]:
    """One FileChange per patch, but a path deleted and written again is written once."""
    written = {patch.new_path for patch in patches if patch.new_path is not None}
    changes = []
    for patch in patches:
        source = base_files[patch.old_path] if patch.old_path is not None else None
        content = _new_content(patch, source, limits)
        if patch.new_path is None:
            assert source is not None  # _check_plan: a deleted file exists at the base
            if source.path not in written:
                changes.append(FileChange(source.path, None, source.mode))
            continue
        renamed = patch.operation == "rename" and patch.old_path not in written
        mode = _new_mode(patch, source)
        changes.append(
            FileChange(patch.new_path, content, mode, patch.old_path if renamed else None)
        )
    return changes


def _new_content(patch: FilePatch, source: BaseFile | None, limits: Limits) -> bytes:
    """The patched bytes (for a deleted file: what is left, which must be nothing)."""
    path = patch.path
    base = source.content if source is not None else b""
    try:
        if patch.binary is not None:
            content = _binary_content(patch.binary, base, limits.max_file_bytes)
            if patch.binary_reverse is not None:
                _check_binary_base(patch.binary_reverse, content, base)
        elif patch.binary_without_data:
            if patch.operation == "delete":
                return b""
            raise unparsable(f"`{path}` is a binary change without its data (use --binary)")
        else:
            content = apply_hunks(base, patch.hunks)
    except HunkMismatch as exc:
        subject = f"Hunk {exc.number} of `{path}` ({exc.hunk.header})" if exc.hunk else None
        raise _mismatch(f"{subject or f'The binary change to `{path}`'} {exc.detail}") from None
    except MalformedHunk as exc:
        raise unparsable(f"in `{path}`, {exc}") from None
    except TooLarge as exc:
        raise _too_large(path, exc.size, limits) from None
    if patch.operation == "delete" and content:
        raise _mismatch(f"The diff deletes `{path}`, but the base file holds more than it removes")
    return content


def _binary_content(block: BinaryBlock, base: bytes, max_file_bytes: int) -> bytes:
    if block.kind == "literal":
        if block.size > max_file_bytes:
            raise TooLarge(block.size)
        return inflate(block.deflated, block.size)
    # A delta holds instructions and inserted bytes; one much larger than the largest
    # allowed file is refused before it is inflated.
    if block.size > 2 * max_file_bytes + 1024:
        raise TooLarge(block.size)
    return apply_delta(base, inflate(block.deflated, block.size), max_file_bytes)


def _check_binary_base(reverse: BinaryBlock, new: bytes, base: bytes) -> None:
    """The reverse block must turn the new bytes back into the base's: a binary change is
    checked against its base as strictly as a hunk's context lines."""
    limit = len(base)
    if reverse.size > (limit if reverse.kind == "literal" else 2 * limit + 1024):
        raise HunkMismatch("was made from a larger file than the base file")
    old = inflate(reverse.deflated, reverse.size)
    try:
        old = old if reverse.kind == "literal" else apply_delta(new, old, limit)
    except TooLarge:
        raise HunkMismatch("was made from a larger file than the base file") from None
    if old != base:
        raise HunkMismatch("was made from other bytes than the base file's")


def _new_mode(patch: FilePatch, source: BaseFile | None) -> str:
    if patch.old_mode is not None and source is not None and patch.old_mode != source.mode:
        raise _mismatch(
            f"The diff changes the mode of `{source.path}` from {patch.old_mode}, but it is "
            f"{source.mode} at the base commit"
        )
    if patch.new_mode is not None:
        return patch.new_mode
    assert source is not None  # a created file always states its mode
    return source.mode


def _check_written(change: FileChange, limits: Limits) -> None:
    content = change.new_content
    if content is None:
        return
    if change.mode not in FILE_MODES:
        raise unparsable(f"`{change.path}` has git mode {change.mode}, which is not a file")
    if len(content) > limits.max_file_bytes:
        raise _too_large(change.path, len(content), limits)


def _check_links(
    changes: list[FileChange], base_files: Mapping[str, BaseFile], base_links: Mapping[str, bytes]
) -> None:
    """Every link of the proposed tree, followed through the others (paths.link_problems)."""
    base = dict(base_links)
    base.update({p: f.content for p, f in base_files.items() if f.mode == SYMLINK_MODE})
    proposed = dict(base)
    written = set()
    for change in changes:
        if change.old_path is not None:
            proposed.pop(change.old_path, None)
        if change.new_content is not None and change.mode == SYMLINK_MODE:
            proposed[change.path] = change.new_content
            written.add(change.path)
        else:
            proposed.pop(change.path, None)
    for found in link_problems(proposed, base, written)[:1]:
        target = found.target.decode("utf-8", "replace")
        where = (
            "into git's own `.git` directory"
            if found.problem == "git_dir"
            else "outside the repository"
        )
        via = ", ".join(f"`{link}`" for link in found.through)
        through = f" (through the link{'s' if len(found.through) > 1 else ''} {via})" if via else ""
        raise InvalidDiff(
            f"The symlink `{found.path}` points to `{target}`{through}, {where}.",
            reason_code=found.problem,
        )


def _mismatch(subject_and_detail: str) -> InvalidDiff:
    return InvalidDiff(
        f"{subject_and_detail}, so the proposal was not made against the base commit.",
        reason_code="context_mismatch",
    )


def _too_large(path: str, size: int, limits: Limits) -> InvalidDiff:
    return InvalidDiff(
        f"`{path}` would be {size:,} bytes, over the limit of {limits.max_file_bytes:,} bytes "
        "per file.",
        reason_code="file_too_large",
    )
