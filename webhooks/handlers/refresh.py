"""Refreshing a proposal: its command chain again on the base branch's head, force-moved.

Rules (intake's half; the interpreter moves the branch, proposals/interpreter.py):

- ``/farcaster refresh [--force]`` on a proposal's open pull request: one refresh job, keyed
  by the comment (a redelivery finds it). Elsewhere, or on a closed proposal: one line.
- A ``push`` to a branch that open proposals are based on refreshes them, as the
  repository's ``refresh`` setting (``.github/farcaster.yml`` at the pushed commit) says:
  ``never``; ``on-conflict`` (the default): each proposal whose pull request changes a file
  the push changed; ``behind``: every one. Pushes to ``farcaster/*`` branches are ours.
- Coalesced and capped: at most one automatic refresh of a proposal starts per
  ``refresh_window_seconds``. A push inside the window schedules one refresh for the window's
  end, which takes the base's head when it starts; later pushes find it waiting and add
  nothing (so does any push while a refresh has not yet taken its base). A refresh that has
  taken its base lands on it even when the base moves on meanwhile (proposals/interpreter.py):
  the push that moved it scheduled the next one. A repository gets at most
  ``max_refreshes_per_hour``. Skips are named in the delivery's reason. An automatic refresh
  is keyed by (pull request, the refresh it follows), so deliveries decided concurrently
  cannot start two; the base head SHA it ran on is its proposal's.
- A proposal someone else pushed to is not refreshed automatically: the push to its branch
  (``pull_request.synchronize``), or failing that the next base push, notes the pause on
  the proposal and says so, once, in its status comment.
- A refresh job (``mode=refresh``, ``parent_id`` = the proposal) has as command the chain
  (bot/core/chain.py): the proposal's command, then each landed revision's, in order.

Several proposals can be refreshed by one push, so the push handler enqueues its jobs itself
(each idempotent by its key) instead of returning one job in its :class:`Decision`.
"""

import hashlib
import time
from typing import TYPE_CHECKING, Any

from bot.core import chain
from bot.core.errors import GitHubRefused, InvalidRepoConfig
from bot.core.records import Job, JobState, NewJob
from bot.core.repo_config import RepoConfig, parse_repo_config
from bot.core.vocab import DeliveryOutcome, EventKind, JobMode, OutboxKind
from bot.github.client import GitHubClient
from bot.store.deliveries import OutboxPut
from proposals.effects import Repo, identity
from proposals.refresh import foreign_commits
from proposals.reports import PullInfo, done_comment, marker
from proposals.revisions import children, refresh_notes, revision_lines
from webhooks.context import Context
from webhooks.handlers.revisions import closed_sentence, proposal_of_pull
from webhooks.keys import job_id_for_comment
from webhooks.payloads import PullRequestEvent, PushEvent, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

if TYPE_CHECKING:
    from webhooks.handlers.jobs import CommentRequest

router = Router()
CONFIG_PATH = ".github/farcaster.yml"
MANY_COMMITS = (0, 2048)  # GitHub's push payload lists at most 2048; 0 may mean "too many"


def refresh_spec(
    ctx: Context,
    github: GitHubClient,
    parent: Job,
    pull: dict[str, Any],
    *,
    key: str,
    job_id: str,
    force: bool,
    requester: str | None,
    automatic: bool = False,
    not_before: float | None = None,
) -> NewJob:
    repo = parent.repo
    base_ref = str(pull["base"]["ref"])
    owner, name = repo.split("/", 1)
    landed = [r for r in children(ctx.store, parent.id, JobMode.PR) if r.state is JobState.DONE]
    steps = [(parent.agent, parent.command), *[(r.agent, r.command) for r in landed]]
    return NewJob(
        id=job_id,
        idempotency_key=key,
        repo=repo,
        agent=parent.agent,
        command=chain.refresh_command(
            steps, pr_number=int(pull["number"]), force=force, automatic=automatic
        ),
        installation_id=parent.installation_id,
        issue_number=int(pull["number"]),
        is_pull_request=True,
        requester=requester,
        mode=JobMode.REFRESH,
        base_ref=base_ref,
        # Automatic: the runner takes the base's head when it starts, the latest push's.
        base_sha=None if automatic else github.branch_head(owner, name, base_ref),
        parent_id=parent.id,
        run_after=not_before,
    )


def manual_refresh(
    ctx: Context, github: GitHubClient, request: "CommentRequest", force: bool
) -> NewJob | str:
    """The refresh job ``/farcaster refresh`` asks for, or the one line that says why not."""
    prefix = ctx.settings.command_prefix
    repository = request.event.repository
    if not request.event.issue.is_pull_request:
        return f"{prefix} refresh works in a Farcaster proposal's pull request."
    pull = github.get_pull(repository.owner, repository.name, request.number)
    parent_id = proposal_of_pull(ctx, request.repo, pull)
    if parent_id is None:
        return f"{prefix} refresh works in a Farcaster proposal's pull request."
    if pull.get("state") != "open":
        return closed_sentence(pull)
    parent = ctx.store.get(parent_id)
    job_id = job_id_for_comment(request.event.comment.node_id)
    return refresh_spec(
        ctx,
        github,
        parent,
        pull,
        key=request.key,
        job_id=job_id,
        force=force,
        requester=request.user,
    )


# -- automatic refresh on push --------------------------------------------------------------


@router.register("push")
def push(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(PushEvent, delivery.payload)
    if not event.ref.startswith("refs/heads/") or event.deleted:
        return ignored("not a branch that moved forward")
    branch = event.ref.removeprefix("refs/heads/")
    if branch.startswith("farcaster/"):
        return ignored("a proposal's own branch moved")
    if event.installation is None:
        return ignored("the delivery names no App installation")
    repo = event.repository.full_name
    proposals = [
        j
        for j in ctx.store.list_jobs(repo=repo, state=JobState.DONE.value, limit=500)
        if j.parent_id is None
        and j.mode is JobMode.PR
        and j.pr_number is not None
        and j.outcome is None
        and j.base_ref == branch
    ]
    if not proposals:
        return ignored(f"no open proposal is based on {branch}")
    github = ctx.github(event.installation.id)
    owner, name = event.repository.owner, event.repository.name
    policy = _policy(github, owner, name, event.after)
    if policy == "never":
        return ignored("the repository's refresh setting is never")
    changed = _changed_files(github, owner, name, event)
    now = time.time()
    hour = [j for j in ctx.store.list_jobs(repo=repo, since=now - 3600, limit=1000)]
    budget = ctx.settings.max_refreshes_per_hour - sum(
        1 for j in hour if j.mode is JobMode.REFRESH and j.command.get("automatic")
    )
    outcomes: list[str] = []
    feedback: list[OutboxPut] = []
    for parent in proposals:
        pull = github.get_pull(owner, name, int(parent.pr_number or 0))
        why = "its pull request is not open" if pull.get("state") != "open" else None
        if why is None:
            why = _skip(
                ctx, github, parent, owner, name, policy, changed, feedback, event.installation.id
            )
        if why is None and budget <= 0:
            why = "the repository's hourly refresh cap is reached"
        if why is not None:
            outcomes.append(f"#{parent.pr_number}: {why}")
            continue
        not_before = _not_before(ctx, parent, now)
        key = _successor_key(ctx, parent)
        job_id = hashlib.sha256(key.encode()).hexdigest()[:12]
        spec = refresh_spec(
            ctx,
            github,
            parent,
            pull,
            key=key,
            job_id=job_id,
            force=False,
            requester=parent.requester,  # who asked for the commands it replays
            automatic=True,
            not_before=not_before,
        )
        ctx.store.enqueue(spec)
        budget -= 1
        when = f" at {not_before:.0f} (coalesced)" if not_before else ""
        outcomes.append(f"#{parent.pr_number}: refresh {job_id}{when}")
    return Decision(
        DeliveryOutcome.RECORDED,
        f"push to {branch}: " + "; ".join(outcomes),
        feedback=tuple(feedback),
    )


def _skip(
    ctx: Context,
    github: GitHubClient,
    parent: Job,
    owner: str,
    name: str,
    policy: str,
    changed: set[str] | None,
    feedback: list[OutboxPut],
    installation: int,
) -> str | None:
    """Why ``parent`` gets no refresh from this push (None: it gets one)."""
    number = int(parent.pr_number or 0)
    if policy == "on-conflict" and changed is not None:
        files = set()
        for item in github.list_pull_files(owner, name, number):
            files.add(str(item.get("filename")))
            if item.get("previous_filename"):
                files.add(str(item["previous_filename"]))
        if not files & changed:
            return "the push changed none of its files"
    earlier = children(ctx.store, parent.id, JobMode.REFRESH)
    if earlier and earlier[-1].state is JobState.QUEUED:
        return f"refresh {earlier[-1].id} has not taken its base yet (coalesced)"
    settings = ctx.settings
    ours = identity(settings.github_app_slug, settings.github_app_id, parent.created_at)
    foreign = foreign_commits(Repo(github, owner, name), number, ours["email"])
    if foreign:
        _pause_once(ctx, parent, foreign, feedback, installation)
        return "someone else pushed to its branch (paused)"
    return None


def _successor_key(ctx: Context, parent: Job) -> str:
    """An automatic refresh is the successor of the proposal's latest refresh (or of none):
    two deliveries decided at once, whatever SHAs they carry, make the same one job."""
    earlier = children(ctx.store, parent.id, JobMode.REFRESH)
    after = earlier[-1].id if earlier else "none"
    return f"refresh:{parent.repo}:{parent.pr_number}:after:{after}"


def _not_before(ctx: Context, parent: Job, now: float) -> float | None:
    """When the next automatic refresh of ``parent`` may start: None (now), or the end of
    the window opened by its last one. A deferred refresh takes the base's head when it
    starts, so one deferred job stands for every push until then."""
    earlier = children(ctx.store, parent.id, JobMode.REFRESH)
    if not earlier:
        return None
    opens = earlier[-1].run_after + ctx.settings.refresh_window_seconds
    return opens if opens > now else None


@router.register("pull_request", action="synchronize")
def pull_request_synchronize(ctx: Context, delivery: Delivery) -> Decision:
    """A proposal's branch moved: if someone else's commit is on it now, refresh pauses."""
    event = read_payload(PullRequestEvent, delivery.payload)
    repo = event.repository.full_name
    parent_id = proposal_of_pull(ctx, repo, delivery.payload.get("pull_request") or {})
    if parent_id is None:
        return ignored("not a Farcaster proposal")
    if event.installation is None:
        return ignored("the delivery names no App installation")
    parent = ctx.store.get(parent_id)
    if parent.state is not JobState.DONE or parent.outcome is not None:
        return ignored(f"job {parent.id} is {parent.state.value}")
    github = ctx.github(event.installation.id)
    settings = ctx.settings
    ours = identity(settings.github_app_slug, settings.github_app_id, parent.created_at)
    owner, name = event.repository.owner, event.repository.name
    foreign = foreign_commits(Repo(github, owner, name), event.pull_request.number, ours["email"])
    if not foreign:
        return ignored("the branch holds only Farcaster's commits")
    feedback: list[OutboxPut] = []
    _pause_once(ctx, parent, foreign, feedback, event.installation.id)
    return Decision(
        DeliveryOutcome.RECORDED,
        f"someone else pushed to #{event.pull_request.number}: refresh paused",
        job_id=parent.id,
        feedback=tuple(feedback),
    )


def _pause_once(
    ctx: Context, parent: Job, foreign: list[str], feedback: list[OutboxPut], installation: int
) -> None:
    kinds = (EventKind.REFRESHED, EventKind.REFRESH_PAUSED)
    latest = [e for e in ctx.store.events(parent.id) if e.kind in kinds][-1:]
    if latest and latest[0].kind is EventKind.REFRESH_PAUSED:
        return  # said once already
    ctx.store.note(parent.id, EventKind.REFRESH_PAUSED, {"commits": foreign[:5], "by": "push"})
    if parent.issue_number is None:
        return
    prefix = ctx.settings.command_prefix
    pr = PullInfo(int(parent.pr_number or 0), parent.pr_url or "", "open")
    body = done_comment(
        parent,
        pr,
        prefix=prefix,
        revisions=revision_lines(ctx.store, parent.id, prefix=prefix),
        notes=refresh_notes(ctx.store, parent.id, prefix=prefix),
    )
    feedback.append(
        OutboxPut(
            key=f"paused:{parent.id}:{foreign[0]}",
            kind=OutboxKind.REPLY,
            job_id=parent.id,
            payload={
                "repo": parent.repo,
                "installation_id": installation,
                "issue_number": parent.issue_number,
                "marker": marker(parent.id),
                "body": body,
            },
        )
    )


def _policy(github: GitHubClient, owner: str, name: str, sha: str) -> str:
    """The repository's ``refresh`` setting at ``sha`` (the default when unreadable)."""
    text = _file_at(github, owner, name, sha, CONFIG_PATH)
    if text is None:
        return RepoConfig().refresh
    try:
        return parse_repo_config(text).refresh
    except InvalidRepoConfig:
        return RepoConfig().refresh  # the job itself will report the broken file


def _file_at(github: GitHubClient, owner: str, name: str, sha: str, path: str) -> str | None:
    tree_sha = str(github.get_commit(owner, name, sha)["tree"]["sha"])
    tree = github.get_tree(owner, name, tree_sha, recursive=True)
    entry = next((e for e in tree.get("tree", []) if e.get("path") == path), None)
    if entry is None or entry.get("type") != "blob":
        return None
    return github.get_blob(owner, name, str(entry["sha"])).decode("utf-8", "replace")


def _changed_files(
    github: GitHubClient, owner: str, name: str, event: PushEvent
) -> set[str] | None:
    """The files the push changed (None: unknown, so every proposal counts)."""
    if len(event.commits) in MANY_COMMITS or event.forced or event.created:
        try:
            compared = github.compare(owner, name, event.before, event.after)
        except GitHubRefused:  # a rewritten or new branch: every proposal counts
            return None
        files = compared.get("files", [])
        return {str(f.get("filename")) for f in files} | {
            str(f["previous_filename"]) for f in files if f.get("previous_filename")
        }
    changed: set[str] = set()
    for commit in event.commits:
        changed.update(commit.added, commit.removed, commit.modified)
    return changed
