"""A job command on a proposal's own pull request revises that proposal.

Rules (intake's half; the interpreter commits, see proposals/interpreter.py):

- A ``rename``/``replace``/``run`` command without ``--base``, in the conversation of a pull
  request whose head is ``farcaster/<job>`` of the same repository, or in an inline review
  comment on it, becomes a revision job of that job: ``parent_id`` = the job, ``revision`` =
  one more than its revisions so far. A revision of a revision revises the same proposal.
- Its base is the PR branch's current head (the agent sees earlier revisions and any human
  commits); it will add exactly one commit to that branch, as a fast-forward.
- It is keyed by the comment like every job (``comment:<node_id>``): a redelivery finds it.
- An inline review comment's file and line are stored in the job's command as ``path`` and
  ``line``, which a command agent's argv receives as ``{path}`` and ``{line}``.
- On a closed or merged proposal: a one-line reply and no job.
"""

from typing import TYPE_CHECKING, Any

from bot.core.errors import JobNotFound
from bot.core.records import NewJob
from bot.core.vocab import JobMode
from bot.github.client import GitHubClient
from webhooks.commands import JobCommandBase
from webhooks.context import Context
from webhooks.keys import job_id_for_comment

if TYPE_CHECKING:
    from webhooks.handlers.jobs import CommentRequest

BRANCH_PREFIX = "farcaster/"


def proposal_of_pull(ctx: Context, repo: str, pull: dict[str, Any]) -> str | None:
    """The id of the job whose proposal ``pull`` is (None: a human's pull request)."""
    head = pull.get("head") or {}
    ref = str(head.get("ref") or "")
    head_repo = (head.get("repo") or {}).get("full_name", repo)
    if not ref.startswith(BRANCH_PREFIX) or str(head_repo).lower() != repo.lower():
        return None
    job_id = ref.removeprefix(BRANCH_PREFIX)
    try:
        job = ctx.store.get(job_id)
    except JobNotFound:
        return None
    if job.repo.lower() != repo.lower():
        return None
    return job.parent_id or job.id


def closed_sentence(pull: dict[str, Any]) -> str:
    state = "merged" if pull.get("merged") or pull.get("merged_at") else "closed"
    return (
        f"This proposal's pull request is {state}; Farcaster revises only open proposals, "
        "so nothing was started."
    )


def revision_of_proposal(
    ctx: Context,
    github: GitHubClient,
    request: "CommentRequest",
    command: JobCommandBase,
    pull: dict[str, Any],
) -> NewJob | str | None:
    """The revision job the command asks for, a one-line refusal, or None (not a proposal)."""
    parent_id = proposal_of_pull(ctx, request.repo, pull)
    if parent_id is None:
        return None
    if pull.get("state") != "open":
        return closed_sentence(pull)
    branch = str(pull["head"]["ref"])
    repository = request.event.repository
    head = github.branch_head(repository.owner, repository.name, branch)
    contract = command.contract()
    if request.spot is not None:
        contract = {**contract, "path": request.spot.path, "line": request.spot.line}
    return NewJob(
        id=job_id_for_comment(request.event.comment.node_id),
        idempotency_key=request.key,
        repo=request.repo,
        agent=command.job_agent(),
        command=contract,
        installation_id=request.installation_id,
        issue_number=request.number,
        is_pull_request=True,
        requester=request.user,
        mode=JobMode.PR,
        base_ref=branch,
        base_sha=head,
        parent_id=parent_id,
        revision=len([j for j in ctx.store.revisions(parent_id) if j.mode is JobMode.PR]) + 1,
    )
