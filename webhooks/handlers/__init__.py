"""The webhook handlers, one module per feature, composed into one router here."""

from webhooks.handlers import (
    checks,
    comments,
    installation,
    ping,
    pulls,
    refresh,
    review_comments,
)
from webhooks.routing import Router


def build_router() -> Router:
    return Router.compose(
        [
            ping.router,
            comments.router,
            checks.router,
            installation.router,
            pulls.router,
            review_comments.router,
            refresh.router,
        ]
    )
