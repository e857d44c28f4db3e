"""``pull_request_review_comment``: an inline comment on a pull request's diff.

Rules: the same as a conversation comment's (handlers/comments.py): only ``created`` counts,
bots are ignored, the first command line wins. The comment's file and line travel with the
command (:class:`~webhooks.handlers.jobs.Spot`): on a proposal's pull request a job command
becomes a revision whose agent receives them (handlers/revisions.py). Replies go to the pull
request's conversation.
"""

from webhooks.commands import parse_comment
from webhooks.context import Context
from webhooks.handlers.jobs import CommentRequest, Spot, act_on_command
from webhooks.payloads import (
    MAX_COMMENT_CHARS,
    Comment,
    Issue,
    IssueCommentEvent,
    PayloadError,
    ReviewCommentEvent,
    read_payload,
)
from webhooks.routing import Decision, Delivery, Router, ignored

router = Router()


@router.register("pull_request_review_comment", action="created", payload=ReviewCommentEvent)
def review_comment_created(ctx: Context, delivery: Delivery) -> Decision:
    event = read_payload(ReviewCommentEvent, delivery.payload)
    comment = event.comment
    if comment.user.is_bot or event.sender.is_bot:
        return ignored("the comment was written by a bot")
    body = comment.body or ""
    if len(body) > MAX_COMMENT_CHARS:
        raise PayloadError(
            f"the comment has {len(body)} characters; GitHub allows at most {MAX_COMMENT_CHARS}"
        )
    prefix = ctx.settings.command_prefix
    command = parse_comment(body, prefix=prefix, app_slug=ctx.settings.github_app_slug)
    if command is None:
        return ignored("the comment holds no command")
    if event.installation is None:
        return ignored("the delivery names no App installation, so nothing can be done")
    as_conversation = IssueCommentEvent(
        action=event.action,
        issue=Issue(number=event.pull_request.number, pull_request={}),
        comment=Comment(
            id=comment.id,
            node_id=comment.node_id,
            body=comment.body,
            user=comment.user,
            html_url=comment.html_url,
        ),
        repository=event.repository,
        sender=event.sender,
        installation=event.installation,
    )
    spot = Spot(comment.path or "", comment.line)
    request = CommentRequest(as_conversation, event.installation.id, spot=spot)
    return act_on_command(ctx, request, command)


@router.register("pull_request_review_comment")
def review_comment_changed(ctx: Context, delivery: Delivery) -> Decision:
    """Edited or deleted review comments are never commands."""
    return ignored(f"a review comment was {delivery.action or 'changed'}; only new ones count")
