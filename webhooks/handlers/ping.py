"""``ping``: GitHub's hello when the webhook is set up. Answered 200 and recorded."""

from bot.core.vocab import DeliveryOutcome
from webhooks.context import Context
from webhooks.routing import Decision, Delivery, Router

router = Router()


@router.register("ping")
def ping(ctx: Context, delivery: Delivery) -> Decision:
    zen = delivery.payload.get("zen")
    return Decision(DeliveryOutcome.PING, str(zen)[:200] if zen else "pong", status=200)
