"""``pull_request.closed`` on a ``farcaster/<job id>`` branch: the job's human outcome.

Rule: merged -> outcome ``merged``; closed without merging -> ``closed_by_human``. Only a
branch of the same repository counts (a fork may name a branch anything).
"""

from bot.core.errors import JobNotFound
from bot.core.vocab import DeliveryOutcome, PrOutcome
from webhooks.context import Context
from webhooks.payloads import PullRequestEvent, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

router = Router()

BRANCH_PREFIX = "farcaster/"


@router.register("pull_request", action="closed")
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
    ctx.store.record_outcome(
        job.id, outcome, data={"pr_number": pull.number, "pr_url": pull.html_url, "by": by}
    )
    return Decision(
        DeliveryOutcome.RECORDED, f"pull request #{pull.number} {outcome} by {by}", job_id=job.id
    )
