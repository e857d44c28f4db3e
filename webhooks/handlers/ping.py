"""``ping``: GitHub's hello when the webhook is set up. Answered 200 and recorded."""

from webhooks.context import Context
from webhooks.routing import PING, Decision, Delivery, Router

router = Router()


@router.register("ping")
def ping(ctx: Context, delivery: Delivery) -> Decision:
    zen = delivery.payload.get("zen")
    return Decision(PING, str(zen)[:200] if zen else "pong", status=200)
