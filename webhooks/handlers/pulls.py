"""``pull_request.closed`` on a ``farcaster/<job id>`` branch: the job's human outcome.

Rules:

- Merged -> outcome ``merged``; closed without merging -> ``closed_by_human``. Only a branch
  of the same repository counts (a fork may name a branch anything).
- The job's one status comment is edited in place to say so ("merged", "closed by a
  human"; its revisions still listed), through the outbox (keyed by the delivery, so a
  redelivery edits it once). A job that is not done yet writes its status comment itself,
  reading the PR's state first.
"""

from bot.core.errors import JobNotFound
from bot.core.records import JobState
from bot.core.vocab import DeliveryOutcome, OutboxKind, PrOutcome
from bot.store.deliveries import OutboxPut
from proposals.reports import PullInfo, done_comment, marker
from proposals.revisions import revision_lines
from webhooks.context import Context
from webhooks.payloads import PullRequestEvent, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

router = Router()

BRANCH_PREFIX = "farcaster/"


@router.register("pull_request", action="closed", payload=PullRequestEvent)
def pull_request_closed(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(PullRequestEvent, delivery.payload)
    pull = event.pull_request
    repo = event.repository.full_name
    if not pull.head.ref.startswith(BRANCH_PREFIX):
        return ignored(f"branch {pull.head.ref!r} is not a Farcaster branch")
    if pull.head.repo is not None and pull.head.repo.full_name.lower() != repo.lower():
        return ignored("the branch lives in a fork")
    job_id = pull.head.ref.removeprefix(BRANCH_PREFIX)
    try:
        job = ctx.store.get(job_id)
    except JobNotFound:
        return ignored(f"there is no job {job_id!r}")
    if job.repo.lower() != repo.lower():
        return ignored(f"job {job_id} belongs to another repository")
    outcome = PrOutcome.MERGED if pull.merged else PrOutcome.CLOSED_BY_HUMAN
    by = pull.merged_by.login if pull.merged and pull.merged_by else event.sender.login
    job = ctx.store.record_outcome(
        job.id, outcome, data={"pr_number": pull.number, "pr_url": pull.html_url, "by": by}
    )
    feedback: tuple[OutboxPut, ...] = ()
    if job.state is JobState.DONE and job.issue_number is not None and event.installation:
        state = "merged" if pull.merged else "closed"
        info = PullInfo(pull.number, pull.html_url or job.pr_url or "", state)
        prefix = ctx.settings.command_prefix
        listed = revision_lines(ctx.store, job.id, prefix=prefix)
        body = done_comment(job, info, prefix=prefix, revisions=listed)
        feedback = (
            OutboxPut(
                key=f"status:{job.id}:{delivery.id}",
                kind=OutboxKind.REPLY,
                job_id=job.id,
                payload={
                    "repo": repo,
                    "installation_id": event.installation.id,
                    "issue_number": job.issue_number,
                    "marker": marker(job.id),
                    "body": body,
                },
            ),
        )
    return Decision(
        DeliveryOutcome.RECORDED,
        f"pull request #{pull.number} {outcome} by {by}",
        job_id=job.id,
        feedback=feedback,
    )
