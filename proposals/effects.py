"""The GitHub side effects of a job, each one safe to repeat.

Every function here either cannot create a duplicate (git objects are content-addressed;
GitHub allows one ref per name and one open pull request per head) or looks before it
creates (check run by ``external_id``, status comment by its marker). Immediately before
a create that GitHub cannot deduplicate, ``Repo.before_create`` runs: the interpreter
renews its lease there, so a holder whose fencing token is stale stops before writing.

These functions do not know about the store; the interpreter records each result in the
effects ledger before it starts the next one.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.errors import GitHubRefused, GitHubUnavailable, RefConflict
from bot.github.client import GitHubClient
from bot.github.comments import upsert_marked_comment
from proposals.reports import CheckOutput, PullInfo, marker

CHECK_NAME = "farcaster"


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class Repo:
    """One repository, through one installation's client."""

    gh: GitHubClient
    owner: str
    name: str
    before_create: Callable[[], None] = _nothing

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identity(slug: str, app_id: int | None, when: float) -> dict[str, str]:
    """Author and committer of a job's commit: the App's bot account, at the job's creation."""
    user = f"{slug}[bot]"
    email = (
        f"{app_id}+{user}@users.noreply.github.com"
        if app_id
        else f"{user}@users.noreply.github.com"
    )
    return {"name": user, "email": email, "date": iso_utc(when)}


# -- git data (the tree is built in chunks by proposals/trees.py) -------------------------


def create_commit(
    repo: Repo, *, message: str, tree: str, parent: str, author: dict[str, str]
) -> str:
    commit = repo.gh.create_commit(
        repo.owner,
        repo.name,
        message=message,
        tree=tree,
        parents=[parent],
        author=author,
        committer=author,
    )
    return str(commit["sha"])


def claim_branch(
    repo: Repo, branch: str, commit: str, *, tree: str, parent: str, ours: Collection[str]
) -> str:
    """Point ``branch`` at ``commit``; returns the SHA the branch points at afterwards.

    An existing branch is accepted when its commit has our tree and our single parent
    (GitHub may have signed our commit, so its SHA alone proves nothing). A branch at a
    commit this job made for an earlier proposal (``ours``) is moved, forcibly: no one
    else has written to it. Anything else is someone else's work: :class:`RefConflict`.
    """
    if repo.gh.create_ref(repo.owner, repo.name, branch, commit):
        return commit
    ref = repo.gh.get_ref(repo.owner, repo.name, branch)
    if ref is None:  # deleted between our two calls: create it once more
        if repo.gh.create_ref(repo.owner, repo.name, branch, commit):
            return commit
        raise GitHubUnavailable(f"The branch {branch} kept appearing and disappearing.")
    current = str(ref["object"]["sha"])
    if current == commit:
        return current
    head = repo.gh.get_commit(repo.owner, repo.name, current)
    if head["tree"]["sha"] == tree and [p["sha"] for p in head["parents"]] == [parent]:
        return current
    if current in ours:
        repo.gh.update_ref(repo.owner, repo.name, branch, commit, force=True)
        return commit
    raise RefConflict(
        f"The branch {branch} already exists at {current[:12]}, a commit Farcaster did not "
        "make; it was left untouched."
    )


# -- pull requests --------------------------------------------------------------------------


def _pull_info(pull: dict[str, Any]) -> PullInfo:
    state = "merged" if pull.get("merged") or pull.get("merged_at") else str(pull["state"])
    return PullInfo(int(pull["number"]), str(pull["html_url"]), state)


def find_pull(repo: Repo, branch: str) -> PullInfo | None:
    """The job's pull request in any state: an open one first, then merged, then closed."""
    pulls = [
        _pull_info(p)
        for p in repo.gh.find_pulls_by_head(repo.owner, repo.name, f"{repo.owner}:{branch}")
        # GitHub may also return pull requests of another branch at the same commit.
        if p["head"]["ref"] == branch
        and (p["head"].get("repo") or {}).get("full_name", repo.full_name) == repo.full_name
    ]
    rank = {"open": 0, "merged": 1}
    pulls.sort(key=lambda p: (rank.get(p.state, 2), -p.number))
    return pulls[0] if pulls else None


def read_pull(repo: Repo, number: int) -> PullInfo:
    """The pull request as it is now (a human may have closed or merged it since)."""
    return _pull_info(repo.gh.get_pull(repo.owner, repo.name, number))


def _open_pull(
    repo: Repo, *, branch: str, base: str, title: str, body: str, draft: bool
) -> dict[str, Any] | None:
    try:
        return repo.gh.create_pull(
            repo.owner, repo.name, title=title, head=branch, base=base, body=body, draft=draft
        )
    except GitHubRefused as exc:
        # Drafts exist only on some plans; a repository asking for one still gets its PR.
        if not draft or exc.status != 422 or "Draft pull requests" not in exc.message:
            raise
    return _open_pull(repo, branch=branch, base=base, title=title, body=body, draft=False)


def find_or_open_pull(
    repo: Repo, *, branch: str, base: str, title: str, body: str, draft: bool = False
) -> PullInfo:
    """The job's pull request, opened if there is none. A closed one is never reopened."""
    found = find_pull(repo, branch)
    if found is not None:
        return found
    repo.before_create()
    created = _open_pull(repo, branch=branch, base=base, title=title, body=body, draft=draft)
    if created is not None:
        return _pull_info(created)
    found = find_pull(repo, branch)  # GitHub said one exists: another attempt just opened it
    if found is None:
        raise GitHubUnavailable(f"GitHub says a pull request for {branch} exists but lists none.")
    return found


# -- check runs -----------------------------------------------------------------------------


def find_check_run(repo: Repo, head_sha: str, external_id: str) -> int | None:
    runs = repo.gh.list_check_runs(repo.owner, repo.name, head_sha, name=CHECK_NAME)
    ids = sorted(int(r["id"]) for r in runs if r.get("external_id") == external_id)
    return ids[0] if ids else None


def find_or_create_check_run(
    repo: Repo, head_sha: str, external_id: str, output: CheckOutput
) -> int:
    """The job's check run on ``head_sha``, created ``in_progress`` if there is none."""
    found = find_check_run(repo, head_sha, external_id)
    if found is not None:
        return found
    repo.before_create()
    created = repo.gh.create_check_run(
        repo.owner,
        repo.name,
        {
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "external_id": external_id,
            "status": "in_progress",
            "output": output.as_json(),
        },
    )
    return int(created["id"])


def conclude_check_run(repo: Repo, run_id: int, conclusion: str, output: CheckOutput) -> None:
    """Complete a check run (repeating this with the same arguments changes nothing)."""
    repo.gh.update_check_run(
        repo.owner,
        repo.name,
        run_id,
        {"status": "completed", "conclusion": conclusion, "output": output.as_json()},
    )


# -- the status comment ---------------------------------------------------------------------


def upsert_status_comment(
    repo: Repo, issue: int, job_id: str, body: str, *, known: int | None = None
) -> int:
    """Edit the job's status comment (the bot's comment holding the job's marker) in place,
    or post it when there is none yet (:mod:`bot.github.comments`)."""
    return upsert_marked_comment(
        repo.gh,
        repo.owner,
        repo.name,
        issue,
        marker(job_id),
        body,
        known=known,
        before_create=repo.before_create,
    )
