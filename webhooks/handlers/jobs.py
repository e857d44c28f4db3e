"""Commands that start or change jobs, asked for in a comment.

Rules:

- A comment causes at most one thing. If a job exists for it (idempotency key
  ``comment:<node_id>``), or feedback about it was queued, a later delivery about the same
  comment changes nothing and answers with the existing job.
- Only commenters with write, maintain or admin permission (GitHub's collaborator
  permission, cached briefly) act on jobs; others get a polite refusal.
- A new job records its base when triage decides its delivery: ``--base BRANCH``, else
  the pull request's base branch for a comment on a PR, else the repository's default
  branch; and that branch's head SHA. It is created with an ``eyes`` reaction in the
  decision's transaction.
- ``retry``/``cancel``/``apply`` act through the store (idempotent there) and get an
  ``eyes`` reaction; when they change nothing the reply says why. ``status`` replies.
  JOB must belong to this repository.
"""

from dataclasses import dataclass
from typing import Any

from bot.core.errors import GitHubRefused, JobNotFound
from bot.core.records import Job, NewJob
from bot.core.vocab import DeliveryOutcome, JobMode
from bot.github.client import GitHubClient
from bot.store.deliveries import OutboxPut
from webhooks.commands import (
    ApplyCommand,
    CancelCommand,
    Command,
    HelpCommand,
    InvalidCommand,
    JobCommandBase,
    PlanCommand,
    RefreshCommand,
    RetryCommand,
    StatusCommand,
)
from webhooks.context import Context
from webhooks.feedback import outbox_keys_of, reaction_item, reply_item
from webhooks.handlers import refresh, revisions
from webhooks.keys import comment_key, job_id_for_comment
from webhooks.payloads import IssueCommentEvent, PayloadError
from webhooks.permissions import can_change_jobs
from webhooks.replies import (
    base_branch_missing,
    help_reply,
    refusal,
    status_reply,
    unchanged,
    unknown_agent,
)
from webhooks.routing import Decision, ignored


@dataclass(frozen=True)
class Spot:
    """Where an inline review comment sits: a file of the PR and a line of it."""

    path: str
    line: int | None


@dataclass(frozen=True)
class CommentRequest:
    event: IssueCommentEvent
    installation_id: int
    spot: Spot | None = None  # an inline review comment's file and line

    @property
    def key(self) -> str:
        return comment_key(self.event.comment.node_id)

    @property
    def repo(self) -> str:
        return self.event.repository.full_name

    @property
    def user(self) -> str:
        return self.event.comment.user.login

    @property
    def number(self) -> int:
        return self.event.issue.number


def replied(
    request: CommentRequest,
    body: str,
    *,
    reason: str,
    outcome: DeliveryOutcome = DeliveryOutcome.REPLIED,
    job_id: str | None = None,
) -> Decision:
    item = reply_item(
        key=request.key,
        repo=request.repo,
        installation_id=request.installation_id,
        issue_number=request.number,
        body=body,
        job_id=job_id,
    )
    return Decision(outcome, reason, job_id=job_id, feedback=(item,))


def eyes(request: CommentRequest, job_id: str) -> tuple[OutboxPut, ...]:
    """The ``eyes`` reaction that says "seen, working on it" (none on an inline review
    comment: its reactions live elsewhere, and the status comment answers it)."""
    if request.spot is not None:
        return ()
    item = reaction_item(
        key=request.key,
        repo=request.repo,
        installation_id=request.installation_id,
        comment_id=request.event.comment.id,
        job_id=job_id,
    )
    return (item,)


def act_on_command(ctx: Context, request: CommentRequest, command: Command) -> Decision:
    """``help`` and a line not understood are answered with the help text; every other
    command checks the comment's history and the commenter's permission, then acts."""
    prefix = ctx.settings.command_prefix
    if isinstance(command, HelpCommand):
        return replied(request, help_reply(prefix), reason="help")
    if isinstance(command, InvalidCommand):
        reply = help_reply(prefix, line=command.line, error=command.error)
        return replied(request, reply, reason=f"not understood: {command.error}")
    job_id = job_id_for_comment(request.event.comment.node_id)
    earlier, answered = ctx.deliveries.comment_history(job_id, outbox_keys_of(request.key))
    if earlier is not None and earlier.idempotency_key == request.key:
        return Decision(
            DeliveryOutcome.JOB_EXISTS,
            "an earlier delivery about the same comment created it",
            job_id=earlier.id,
        )
    if answered:
        return ignored("an earlier delivery about the same comment was answered")
    github = ctx.github(request.installation_id)
    permission = ctx.permission(github, request.repo, request.user)
    if not can_change_jobs(permission):
        return replied(
            request,
            refusal(request.user, permission),
            reason=f"{request.user} has {permission!r} permission, not write",
            outcome=DeliveryOutcome.REFUSED,
        )
    if isinstance(command, PlanCommand):
        return start_job(ctx, github, request, command.command, mode=JobMode.PLAN)
    if isinstance(command, JobCommandBase):
        return start_job(ctx, github, request, command, mode=JobMode.PR)
    if isinstance(command, StatusCommand):
        return status(ctx, request, command)
    if isinstance(command, RefreshCommand):
        return start_refresh(ctx, github, request, command)
    if isinstance(command, RetryCommand | CancelCommand | ApplyCommand):
        return change_job(ctx, request, command)
    raise AssertionError(f"unhandled command {command!r}")  # pragma: no cover


def start_job(
    ctx: Context,
    github: GitHubClient,
    request: CommentRequest,
    command: JobCommandBase,
    *,
    mode: JobMode,
) -> Decision:
    """A new queued job at the head of its base branch, with an ``eyes`` reaction."""
    known = ctx.agents.current().names()  # the agents file as last read successfully
    if command.job_agent() not in known:
        return replied(
            request,
            unknown_agent(command.job_agent(), known),
            reason=f"no agent {command.job_agent()!r}",
        )
    repository = request.event.repository
    pull = _pull_of(github, request) if command.base is None else None
    if pull is not None and mode is JobMode.PR:
        revision = revisions.revision_of_proposal(ctx, github, request, command, pull)
        if isinstance(revision, str):
            return replied(request, revision, reason="the proposal is not open")
        if revision is not None:
            reason = f"revision {revision.revision} of job {revision.parent_id}"
            return Decision(
                DeliveryOutcome.JOB_CREATED,
                reason,
                job=revision,
                job_id=revision.id,
                feedback=eyes(request, revision.id),
            )
    base_ref = command.base or _default_base(request, pull)
    try:
        base_sha = github.branch_head(repository.owner, repository.name, base_ref)
    except GitHubRefused as exc:
        if exc.status == 404:
            return replied(
                request, base_branch_missing(base_ref), reason=f"no base branch {base_ref!r}"
            )
        raise
    job_id = job_id_for_comment(request.event.comment.node_id)
    job = NewJob(
        id=job_id,
        idempotency_key=request.key,
        repo=request.repo,
        agent=command.job_agent(),
        command=command.contract(),
        installation_id=request.installation_id,
        issue_number=request.number,
        is_pull_request=request.event.issue.is_pull_request,
        requester=request.user,
        mode=mode,
        base_ref=base_ref,
        base_sha=base_sha,
    )
    reason = f"{mode} job {command.contract()['name']} on {base_ref}@{base_sha[:12]}"
    return Decision(
        DeliveryOutcome.JOB_CREATED,
        reason,
        job=job,
        job_id=job_id,
        feedback=eyes(request, job_id),
    )


def start_refresh(
    ctx: Context, github: GitHubClient, request: CommentRequest, command: RefreshCommand
) -> Decision:
    spec = refresh.manual_refresh(ctx, github, request, command.force)
    if isinstance(spec, str):
        return replied(request, spec, reason="refresh is not possible here")
    return Decision(
        DeliveryOutcome.JOB_CREATED,
        f"refresh of job {spec.parent_id} on {spec.base_ref}@{(spec.base_sha or '')[:12]}",
        job=spec,
        job_id=spec.id,
        feedback=eyes(request, spec.id),
    )


def _pull_of(github: GitHubClient, request: CommentRequest) -> dict[str, Any] | None:
    """The pull request the comment is on (None on an issue)."""
    if not request.event.issue.is_pull_request:
        return None
    repository = request.event.repository
    return github.get_pull(repository.owner, repository.name, request.number)


def _default_base(request: CommentRequest, pull: dict[str, Any] | None) -> str:
    repository = request.event.repository
    if pull is not None:
        return str(pull["base"]["ref"])
    if not repository.default_branch:
        raise PayloadError("payload field repository.default_branch: field required")
    return repository.default_branch


def find_job(ctx: Context, prefix: str, repo: str) -> tuple[Job | None, str]:
    """The job ``prefix`` names in ``repo``, or None and why not."""
    try:
        job = ctx.store.find(prefix)
    except JobNotFound as exc:
        return None, exc.message
    if job.repo.lower() != repo.lower():
        return None, f"There is no job `{prefix}` in this repository."
    return job, ""


def change_job(
    ctx: Context, request: CommentRequest, command: RetryCommand | CancelCommand | ApplyCommand
) -> Decision:
    job, why = find_job(ctx, command.job, request.repo)
    if job is None:
        return replied(request, why, reason=f"no job {command.job!r}")
    actor = request.user
    if isinstance(command, RetryCommand):
        after = ctx.store.retry(job.id, actor=actor, recompute=True)
    elif isinstance(command, CancelCommand):
        after = ctx.store.cancel(job.id, actor=actor, reason=f"cancelled by @{actor}")
    else:
        after = ctx.store.apply_plan(job.id, actor=actor)
    if (after.state, after.updated_at) == (job.state, job.updated_at):
        return replied(
            request,
            unchanged(after, command.name),
            reason=f"{command.name} changed nothing ({after.state.value})",
            job_id=job.id,
        )
    reason = f"{command.name} by {actor}: {job.state.value} -> {after.state.value}"
    return Decision(
        DeliveryOutcome.JOB_ACTION, reason, job_id=job.id, feedback=eyes(request, job.id)
    )


def status(ctx: Context, request: CommentRequest, command: StatusCommand) -> Decision:
    if command.job is not None:
        job, why = find_job(ctx, command.job, request.repo)
        if job is None:
            return replied(request, why, reason=f"no job {command.job!r}")
        return replied(
            request, status_reply([job], job=command.job), reason="status", job_id=job.id
        )
    jobs = [
        j
        for j in ctx.store.list_jobs(repo=request.repo, limit=500)
        if j.issue_number == request.number
    ]
    return replied(request, status_reply(jobs), reason="status")
