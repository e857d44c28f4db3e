"""``issue_comment``: a new comment on an issue or pull request may be a command.

Rules, in order:

- Only ``created`` comments count; an edited or deleted comment is ignored (editing a
  comment must not run it a second time, or run what someone else wrote).
- Comments by bots, ours included, are ignored.
- A comment longer than GitHub allows (65,536 characters) did not come from GitHub: intake
  answers 400 (the payload model refuses it, webhooks/payloads.py).
- No command line: ignored. ``help``, an unknown command or bad arguments: the help text,
  to anyone. Everything else acts on jobs and is handled in ``handlers/jobs.py``.
"""

from webhooks.commands import parse_comment
from webhooks.context import Context
from webhooks.handlers.jobs import CommentRequest, act_on_command
from webhooks.payloads import IssueCommentEvent, read_payload
from webhooks.routing import Decision, Delivery, Router, ignored

router = Router()


@router.register("issue_comment", action="created", payload=IssueCommentEvent)
def comment_created(ctx: Context, delivery: Delivery) -> Decision:
    """A new comment: parse its first command line and answer it."""
    event = read_payload(IssueCommentEvent, delivery.payload)
    if event.comment.user.is_bot or event.sender.is_bot:
        return ignored("the comment was written by a bot")
    body = event.comment.body or ""
    prefix = ctx.settings.command_prefix
    command = parse_comment(body, prefix=prefix, app_slug=ctx.settings.github_app_slug)
    if command is None:
        return ignored("the comment holds no command")
    if event.installation is None:
        return ignored("the delivery names no App installation, so nothing can be done")
    request = CommentRequest(event=event, installation_id=event.installation.id)
    return act_on_command(ctx, request, command)


@router.register("issue_comment")
def comment_changed(ctx: Context, delivery: Delivery) -> Decision:
    """Edited, deleted, pinned ... comments are never commands."""
    return ignored(f"a comment was {delivery.action or 'changed'}; only new comments are commands")
