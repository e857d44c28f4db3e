"""``installation`` and ``installation_repositories``: recorded; an uninstall cancels jobs.

Rule: when the App is uninstalled, the installation's jobs that are waiting (queued,
proposed, planned) are cancelled with the reason "the App was uninstalled": they could
never reach GitHub again. Jobs being worked on fail by themselves on their next call.
"""

from bot.core.records import JobState
from bot.core.vocab import DeliveryOutcome
from webhooks.context import Context
from webhooks.payloads import InstallationEvent, read_payload
from webhooks.routing import Decision, Delivery, Router

router = Router()

WAITING_STATES = [JobState.QUEUED, JobState.PROPOSED, JobState.PLANNED]
UNINSTALLED = "the App was uninstalled"


@router.register("installation", payload=InstallationEvent)
def installation(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(InstallationEvent, delivery.payload)
    if event.action != "deleted":
        return Decision(
            DeliveryOutcome.RECORDED, f"installation {event.installation.id} {event.action}"
        )
    actor = event.sender.login if event.sender else "github"
    jobs = ctx.store.jobs_of_installation(event.installation.id, WAITING_STATES)
    for job in jobs:
        ctx.store.cancel(job.id, actor=actor, reason=UNINSTALLED)
    return Decision(
        DeliveryOutcome.RECORDED,
        f"installation {event.installation.id} deleted; {len(jobs)} jobs cancelled",
    )


@router.register("installation_repositories", payload=InstallationEvent)
def installation_repositories(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(InstallationEvent, delivery.payload)
    return Decision(
        DeliveryOutcome.RECORDED,
        f"installation {event.installation.id} repositories {event.action}",
    )
