"""``check_run.rerequested``: "Re-run" on Farcaster's check run retries its job.

Rule: the check run is ours when its ``external_id`` names a job of this repository (and,
when the App id is configured, the check run belongs to this App). The person who clicked
needs write permission, like ``/farcaster retry JOB``. The retry re-runs the agent.
"""

from bot.core.errors import JobNotFound
from bot.core.vocab import DeliveryOutcome
from webhooks.context import Context
from webhooks.payloads import CheckRunEvent, read_payload
from webhooks.permissions import can_change_jobs
from webhooks.routing import Decision, Delivery, Router, ignored

router = Router()


@router.register("check_run", action="rerequested", payload=CheckRunEvent)
def check_run_rerequested(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(CheckRunEvent, delivery.payload)
    run = event.check_run
    app_id = ctx.settings.github_app_id
    if app_id is not None and run.app is not None and run.app.id not in (None, app_id):
        return ignored("the check run belongs to another App")
    if not run.external_id:
        return ignored("the check run names no Farcaster job")
    try:
        job = ctx.store.get(run.external_id)
    except JobNotFound:
        return ignored(f"there is no job {run.external_id!r}")
    if job.repo.lower() != event.repository.full_name.lower():
        return ignored(f"job {job.id} belongs to another repository")
    if event.installation is None:
        return ignored("the delivery names no App installation")
    user = event.sender.login
    github = ctx.github(event.installation.id)
    permission = ctx.permission(github, event.repository.full_name, user)
    if not can_change_jobs(permission):
        return Decision(
            DeliveryOutcome.REFUSED,
            f"{user} has {permission!r} permission, not write",
            job_id=job.id,
        )
    after = ctx.store.retry(job.id, actor=user, recompute=True)
    reason = f"re-run requested by {user}: {job.state.value} -> {after.state.value}"
    return Decision(DeliveryOutcome.JOB_ACTION, reason, job_id=job.id)
