"""Admin route for a human's inline review comment (under ``/_emulator/``).

``POST /_emulator/repos/{o}/{r}/pulls/{n}/review-comments`` ``{user, body, path, line,
side? ("RIGHT"), start_line?, start_side?, commit_id? (the head), in_reply_to?,
author_association?, deliver? (true)}`` places the comment as GitHub would (422 when the
line is not in the PR's diff, see ``reviews.py``), then delivers
``pull_request_review_comment`` (action ``created``) synchronously and answers
``{"comment", "delivery"}``.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body

from bot.emulator import hooks, issues, reviews
from bot.emulator.deps import Em, UrlsDep
from bot.emulator.errors import not_found, unprocessable

router = APIRouter(prefix="/_emulator")
JsonBody = Annotated[dict[str, Any], Body()]


def _int(body: dict[str, Any], field: str, *, required: bool) -> int | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise unprocessable(f"{field} must be a positive integer")
    return value


@router.post("/repos/{owner}/{repo}/pulls/{number}/review-comments", status_code=201)
def review_comment_as_user(
    em: Em, urls: UrlsDep, owner: str, repo: str, number: int, body: JsonBody
) -> dict[str, Any]:
    text, login = body.get("body"), body.get("user")
    if not isinstance(text, str) or not text or not isinstance(login, str) or not login:
        raise unprocessable("user and body are required")
    reply_to = _int(body, "in_reply_to", required=False)
    with em.lock:
        record = em.repo(owner, repo)
        issue = record.issues.get(number) if record else None
        if record is None or issue is None or issue.pull is None:
            raise not_found()
        issues.refresh_pull(record, issue)
        user = em.user(login).login
        association = body.get("author_association")
        if reply_to is not None:
            to = em.review_comments.get(reply_to)
            if to is None or (to.owner, to.repo, to.pull_number) != (
                record.owner,
                record.name,
                number,
            ):
                raise not_found()
            made = reviews.reply(
                em, record, issue, to, user=user, body=text, association=association
            )
        else:
            path = body.get("path")
            if not isinstance(path, str) or not path:
                raise unprocessable("path is required")
            line = _int(body, "line", required=True)
            assert line is not None
            side = str(body.get("side") or "RIGHT")
            start_line = _int(body, "start_line", required=False)
            commit, where = reviews.place(
                record,
                issue,
                path=path,
                line=line,
                side=side,
                start_line=start_line,
                commit_id=body.get("commit_id"),
            )
            made = reviews.add(
                em,
                record,
                issue,
                user=user,
                body=text,
                path=path,
                line=line,
                side=side,
                start_line=start_line,
                start_side=str(body.get("start_side") or side),
                commit_id=commit,
                where=where,
                association=association,
            )
        result = reviews.comment_json(em, urls, record, made)
        payload = hooks.review_comment(em, urls, record, issue, made, "created")
        deliveries = hooks.prepare(em, record, "pull_request_review_comment", payload)
    if body.get("deliver", True) is False:
        return {"comment": result, "delivery": None}
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {"comment": result, "delivery": hooks.summary(deliveries)}
