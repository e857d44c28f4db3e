"""Test support for the runner: a sample repository served as GitHub serves tarballs.

GitHub answers ``GET /repos/{o}/{r}/tarball/{sha}`` with a 302 to codeload, which serves a
.tar.gz whose one top-level folder is ``{o}-{r}-{sha7}/``; the archive here is made by
``git archive`` from a real commit, so it has the same shape (pax header included).
"""

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import respx
from githubkit.cache import MemCacheStrategy

from bot.core.records import NewJob
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from tests.factories import new_job

# The sample repository the demo uses too (shipped in the package for `farcaster demo`).
SAMPLE = Path(__file__).parents[1] / "bot" / "demo" / "sample_repo"
API = "http://github.test/api/v3"
CODELOAD = "https://codeload.github.test"
INSTALLATION = 42
OWNER, REPO = "octo", "shop"
# The installation token GitHub hands out: it must never reach an agent or a log.
INSTALLATION_TOKEN = "ghs_" + "I" * 36

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "Sample",
    "GIT_AUTHOR_EMAIL": "sample@example.com",
    "GIT_COMMITTER_NAME": "Sample",
    "GIT_COMMITTER_EMAIL": "sample@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def sample_repository(target: Path, source: Path = SAMPLE) -> tuple[Path, str]:
    """A git repository holding a copy of ``source``; returns it and its commit SHA."""
    shutil.copytree(source, target)
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "sample")
    return target, git(target, "rev-parse", "HEAD")


def tarball(repository: Path, sha: str, owner: str = OWNER, repo: str = REPO) -> bytes:
    prefix = f"{owner}-{repo}-{sha[:7]}/"
    done = subprocess.run(
        ["git", "archive", "--format=tar.gz", f"--prefix={prefix}", sha],
        cwd=repository,
        env=_GIT_ENV,
        capture_output=True,
        check=True,
    )
    return done.stdout


def mock_github(
    router: respx.MockRouter,
    archive: bytes,
    sha: str,
    *,
    owner: str = OWNER,
    repo: str = REPO,
    installation: int = INSTALLATION,
) -> dict[str, respx.Route]:
    """Routes for the installation token and the tarball (302 to codeload, then 200)."""
    codeload = f"{CODELOAD}/{owner}/{repo}/legacy.tar.gz/{sha}"
    return {
        "token": router.post(f"{API}/app/installations/{installation}/access_tokens").respond(
            201, json={"token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"}
        ),
        "tarball": router.get(f"{API}/repos/{owner}/{repo}/tarball/{sha}").respond(
            302, headers={"Location": codeload}
        ),
        "codeload": router.get(codeload).respond(
            200, content=archive, headers={"Content-Type": "application/x-gzip"}
        ),
    }


def github_factory(settings: Settings) -> Callable[[int], GitHubClient]:
    clients: dict[int, GitHubClient] = {}

    def make(installation_id: int) -> GitHubClient:
        if installation_id not in clients:
            clients[installation_id] = GitHubClient.for_installation(
                settings, installation_id, cache=MemCacheStrategy()
            )
        return clients[installation_id]

    return make


def job_spec(
    command: dict[str, Any], *, sha: str, agent: str | None = None, job_id: str = "job1"
) -> NewJob:
    return new_job(
        id=job_id,
        idempotency_key=f"comment:{job_id}",
        repo=f"{OWNER}/{REPO}",
        agent=agent or str(command["name"]),
        command=command,
        installation_id=INSTALLATION,
        issue_number=7,
        requester="maintainer",
        base_sha=sha,
    )


def unreachable(_request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")
