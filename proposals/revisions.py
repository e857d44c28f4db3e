"""Revisions: more commits on a proposal's pull request, asked for on the pull request.

A revision job (``job.parent_id``) was created by intake (webhooks/handlers/revisions.py)
with the PR branch's head as its base. The interpreter publishes it differently from a
proposal:

- Its commit goes on the parent's branch as a fast-forward only (``force=false``):
  :func:`advance_branch`. A branch already at our commit, or past it (someone pushed on top
  after ours landed), means the commit landed; a branch anywhere else means it moved since
  the revision's base, and the drift rule applies to the branch: the job runs again on the
  new head. Nothing is ever force-moved by a revision.
- It opens no pull request: the parent's is read (its state too, as for any job).
- It writes the parent's status comment, whose "Revisions" list (:func:`revision_lines`)
  names each revision, what it asked and where it stands.
"""

from dataclasses import dataclass

from bot.core.errors import GitHubRefused, RefConflict
from bot.core.records import Job, JobState
from bot.core.vocab import EventKind, JobMode
from bot.store import Store
from proposals.effects import Repo
from proposals.markdown import code_span, plain
from proposals.reports import command_text, short


@dataclass(frozen=True)
class Advance:
    landed: bool  # True: the branch holds our commit; False: it moved elsewhere
    head: str  # the branch's head afterwards


def advance_branch(repo: Repo, branch: str, commit: str, *, parent: str) -> Advance:
    """Fast-forward ``branch`` from ``parent`` to ``commit`` (see the module docstring)."""
    current = _head(repo, branch)
    if current == parent:
        repo.before_create()
        try:
            repo.gh.update_ref(repo.owner, repo.name, branch, commit, force=False)
            return Advance(True, commit)
        except GitHubRefused as exc:
            if exc.status not in (409, 422):  # 422 "Update is not a fast forward"
                raise
        current = _head(repo, branch)
    if current == commit:
        return Advance(True, current)
    comparison = repo.gh.compare(repo.owner, repo.name, commit, current)
    if comparison.get("status") == "ahead":
        return Advance(True, current)  # ours landed; someone pushed on top since
    return Advance(False, current)


def _head(repo: Repo, branch: str) -> str:
    ref = repo.gh.get_ref(repo.owner, repo.name, branch)
    if ref is None:
        raise RefConflict(
            f"The branch {branch} of the proposal was deleted; the revision has nowhere to go."
        )
    return str(ref["object"]["sha"])


def revision_lines(
    store: Store, parent_id: str, *, prefix: str, landed: tuple[str, str] | None = None
) -> list[str]:
    """One line per revision of ``parent_id``, in order. ``landed``: (job id, commit) of a
    revision that has just landed but is not marked done yet."""
    lines = []
    for job in children(store, parent_id, JobMode.PR):
        lines.append(
            f"{job.revision}. {code_span(command_text(job, prefix=prefix))} by "
            f"@{job.requester or 'someone'}: {_where(store, job, landed)}"
        )
    return lines


def _where(store: Store, job: Job, landed: tuple[str, str] | None) -> str:
    if landed is not None and landed[0] == job.id:
        return f"commit {code_span(short(landed[1]))}"
    if job.state is JobState.DONE:
        ref = store.effects(job.id).get("ref")
        sha = str(ref.result.get("sha")) if ref is not None else None
        return f"commit {code_span(short(sha))}"
    if job.state is JobState.TOMBSTONED:
        return f"failed ({plain(job.last_error or 'see the job', 200)})"
    if job.state is JobState.CANCELLED:
        return "cancelled"
    return "working on it"


# -- what the status comment says about refreshes -----------------------------------------

PAUSED = (
    "Refresh paused: someone other than Farcaster pushed to the branch, so Farcaster no "
    "longer replaces it. {cmd} replaces it anyway."
)


def children(store: Store, parent_id: str, mode: JobMode) -> list[Job]:
    """The parent's revision jobs (``JobMode.PR``) or refresh jobs (``JobMode.REFRESH``)."""
    return [job for job in store.revisions(parent_id) if job.mode is mode]


def refresh_notes(store: Store, parent_id: str, *, prefix: str) -> list[str]:
    """The one line about refreshes, from the latest refresh event on the proposal."""
    kinds = (EventKind.REFRESHED, EventKind.REFRESH_PAUSED)
    latest = [e for e in store.events(parent_id) if e.kind in kinds][-1:]
    if not latest:
        return []
    event = latest[0]
    if event.kind is EventKind.REFRESH_PAUSED:
        return [PAUSED.format(cmd=code_span(f"{prefix} refresh --force"))]
    base_ref, base_sha = str(event.data.get("base_ref")), str(event.data.get("base_sha"))
    return [
        f"Refreshed on {code_span(base_ref)} at {code_span(short(base_sha))}: the branch was "
        "rebuilt there, its revisions replayed."
    ]
