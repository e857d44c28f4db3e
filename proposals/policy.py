"""What a job's proposal may change, from three sources, each only ever narrowing (pure).

1. The server's settings: the size limits.
2. The command's ``--path`` globs: the files this job was asked to change.
3. The repository's ``.github/farcaster.yml`` *at the base commit* (read from the git tree,
   like every base file): ``paths.allowed`` and ``paths.protected``.

A path must match the command's globs (if any) and the repository's allowed globs (if
any), and no protected glob. A file that does not parse refuses the job with its line
number (``invalid_repo_config``): applying a proposal under rules we could not read would
be guessing.
"""

from collections.abc import Iterable, Mapping

from bot.core.errors import InvalidDiff
from bot.core.records import Job
from bot.core.repo_config import CONFIG_PATH, RepoConfig, parse_repo_config
from bot.core.settings import Settings
from proposals.paths import matches_any
from proposals.validation import BaseFile, FileChange, Limits

__all__ = ["CONFIG_PATH", "check_repo_allowed", "limits_for", "repo_config"]


def repo_config(base_files: Mapping[str, BaseFile]) -> RepoConfig:
    """The repository's settings at the base commit; the defaults when there is no file."""
    file = base_files.get(CONFIG_PATH)
    if file is None:
        return RepoConfig()
    return parse_repo_config(file.content.decode("utf-8", "replace"))


def limits_for(job: Job, settings: Settings, config: RepoConfig) -> Limits:
    command_globs = tuple(str(g) for g in job.command.get("paths") or ())
    return Limits(
        max_file_bytes=settings.max_file_bytes,
        max_diff_bytes=settings.max_diff_bytes,
        allowed_globs=command_globs or tuple(config.paths.allowed) or ("**",),
        protected_globs=tuple(config.paths.protected),
    )


def _paths(changes: Iterable[FileChange]) -> list[str]:
    return [p for c in changes for p in (c.old_path, c.path) if p is not None]


def check_repo_allowed(changes: Iterable[FileChange], job: Job, config: RepoConfig) -> None:
    """When the command named its own globs, the repository's allowed globs still apply."""
    allowed = tuple(config.paths.allowed)
    if not allowed or not job.command.get("paths"):
        return  # limits_for already used the repository's globs (or there are none)
    for path in _paths(changes):
        if matches_any(path, allowed) is None:
            shown = ", ".join(f"`{g}`" for g in allowed)
            raise InvalidDiff(
                f"`{path}` is outside the paths {CONFIG_PATH} allows ({shown}).",
                reason_code="path_not_allowed",
            )
