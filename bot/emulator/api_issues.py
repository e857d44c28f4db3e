"""Pull request, issue comment and reaction routes, acting as the App's bot user.

GitHub's answers reproduced here: ``GET pulls?head=owner:branch`` filters by head label and
silently ignores a bare branch name; a second open pull request for the same head and base
is refused with 422 ``{"message": "Validation Failed", "errors": [{"resource":
"PullRequest", "code": "custom", "message": "A pull request already exists for
owner:branch."}]}``; a comment reaction answers 201 when new and 200 when the same user
already reacted with the same content. Lists are paginated with ``per_page`` (at most
100) and ``page`` and carry a ``Link`` header.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from bot.emulator import issues, own_events, render
from bot.emulator.deps import Call, Dispatch
from bot.emulator.errors import ApiError, not_found, unprocessable, validation_failed
from bot.emulator.state import Comment, Issue

router = APIRouter()
JsonBody = Annotated[dict[str, Any], Body()]
PULLS_DOCS = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"


def paginate(
    items: list[Any], per_page: int, page: int, request: Request, response: Response
) -> list[Any]:
    per_page, page = max(1, min(per_page, 100)), max(1, page)
    last = max(1, -(-len(items) // per_page))
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1), ("first", 1), ("last", last)):
        if 1 <= number <= last and number != page:
            url = request.url.include_query_params(page=number, per_page=per_page)
            links.append(f'<{url}>; rel="{rel}"')
    if links:
        response.headers["link"] = ", ".join(links)
    return items[(page - 1) * per_page : page * per_page]


def _pull(call: Call, number: int) -> Issue:
    issue = call.repo.issues.get(number)
    if issue is None or issue.pull is None:
        raise not_found("https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
    issues.refresh_pull(call.repo, issue)
    return issue


@router.get("/repos/{owner}/{repo}/pulls")
def list_pulls(
    call: Call,
    request: Request,
    response: Response,
    state: str = "open",
    head: str | None = None,
    base: str | None = None,
    direction: str = "desc",
    per_page: int = 30,
    page: int = 1,
) -> list[dict[str, Any]]:
    em, repo = call.em, call.repo
    with em.lock:
        found = []
        for issue in repo.issues.values():
            if issue.pull is None:
                continue
            issues.refresh_pull(repo, issue)
            label = f"{repo.owner}:{issue.pull.head_ref}".lower()
            if state != "all" and issue.state != state:
                continue
            if head and ":" in head and head.lower() != label:
                continue  # a bare branch name is ignored by GitHub, not matched
            if base and issue.pull.base_ref != base:
                continue
            found.append(issue)
        found.sort(key=lambda i: i.number, reverse=direction != "asc")
        chosen = paginate(found, per_page, page, request, response)
        return [render.pull(em, call.urls, repo, i) for i in chosen]


@router.get("/repos/{owner}/{repo}/pulls/{number}")
def get_pull(call: Call, number: int) -> dict[str, Any]:
    with call.em.lock:
        return render.pull(call.em, call.urls, call.repo, _pull(call, number))


def _head_branch(call: Call, head: str) -> str:
    owner, sep, branch = head.rpartition(":")
    if sep and owner.lower() != call.repo.owner.lower():
        raise validation_failed(
            {"resource": "PullRequest", "field": "head", "code": "invalid"},
            documentation_url=PULLS_DOCS,
        )
    return branch


@router.post("/repos/{owner}/{repo}/pulls", status_code=201)
def create_pull(
    call: Call, dispatch: Dispatch, body: JsonBody, response: Response
) -> dict[str, Any]:
    em, repo, git = call.em, call.repo, call.repo.git
    head, base, title = body.get("head"), body.get("base"), body.get("title")
    for field, value in (("head", head), ("base", base)):
        if not isinstance(value, str) or not value:
            raise validation_failed(
                {"resource": "PullRequest", "code": "missing_field", "field": field},
                documentation_url=PULLS_DOCS,
            )
    assert isinstance(head, str) and isinstance(base, str)
    with em.lock:
        branch = _head_branch(call, head)
        base_sha, head_sha = git.ref(f"refs/heads/{base}"), git.ref(f"refs/heads/{branch}")
        for field, sha in (("base", base_sha), ("head", head_sha)):
            if sha is None:
                raise validation_failed(
                    {"resource": "PullRequest", "field": field, "code": "invalid"},
                    documentation_url=PULLS_DOCS,
                )
        assert base_sha is not None and head_sha is not None
        for issue in repo.issues.values():
            pr = issue.pull
            if pr and issue.state == "open" and (pr.head_ref, pr.base_ref) == (branch, base):
                raise validation_failed(
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {repo.owner}:{branch}.",
                    },
                    documentation_url=PULLS_DOCS,
                )
        if git.count(head_sha, base_sha) == 0:
            raise validation_failed(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": f"No commits between {base} and {branch}",
                },
                documentation_url=PULLS_DOCS,
            )
        if not isinstance(title, str) or not title:
            raise validation_failed(
                {"resource": "PullRequest", "code": "missing_field", "field": "title"},
                documentation_url=PULLS_DOCS,
            )
        text = body.get("body")
        issue = issues.open_pull(
            em,
            repo,
            head=branch,
            base=base,
            title=title,
            body=text if isinstance(text, str) else None,
            user=em.user(call.app.bot_login, "Bot").login,
            draft=bool(body.get("draft", False)),
            maintainer_can_modify=bool(body.get("maintainer_can_modify", False)),
        )
        result = render.pull(em, call.urls, repo, issue)
        own_events.pull_opened(call, dispatch, issue)
    response.headers["location"] = result["url"]
    return result


# -- comments and reactions --------------------------------------------------------------


def _comment(call: Call, comment_id: int) -> Comment:
    comment = call.em.comments.get(comment_id)
    if comment is None or (comment.owner, comment.repo) != (call.repo.owner, call.repo.name):
        raise not_found()
    return comment


@router.get("/repos/{owner}/{repo}/issues/{number}/comments")
def list_comments(
    call: Call, number: int, request: Request, response: Response, per_page: int = 30, page: int = 1
) -> list[dict[str, Any]]:
    em = call.em
    with em.lock:
        issue = call.repo.issues.get(number)
        if issue is None:
            raise not_found()
        comments = [em.comments[i] for i in issue.comment_ids]
        chosen = paginate(comments, per_page, page, request, response)
        return [render.comment(em, call.urls, call.repo, c) for c in chosen]


@router.post("/repos/{owner}/{repo}/issues/{number}/comments", status_code=201)
def create_comment(
    call: Call, dispatch: Dispatch, number: int, body: JsonBody, response: Response
) -> dict[str, Any]:
    text = body.get("body")
    if not isinstance(text, str):
        raise unprocessable('Invalid request.\n\n"body" wasn\'t supplied.')
    em = call.em
    with em.lock:
        issue = call.repo.issues.get(number)
        if issue is None:
            raise not_found()
        bot = em.user(call.app.bot_login, "Bot").login
        comment = issues.add_comment(em, call.repo, issue, user=bot, body=text, app_id=call.app.id)
        result = render.comment(em, call.urls, call.repo, comment)
        own_events.comment(call, dispatch, issue, comment, "created")
    response.headers["location"] = result["url"]
    return result


@router.get("/repos/{owner}/{repo}/issues/comments/{comment_id}")
def get_comment(call: Call, comment_id: int) -> dict[str, Any]:
    with call.em.lock:
        return render.comment(call.em, call.urls, call.repo, _comment(call, comment_id))


@router.patch("/repos/{owner}/{repo}/issues/comments/{comment_id}")
def update_comment(
    call: Call, dispatch: Dispatch, comment_id: int, body: JsonBody
) -> dict[str, Any]:
    text = body.get("body")
    if not isinstance(text, str):
        raise unprocessable('Invalid request.\n\n"body" wasn\'t supplied.')
    em = call.em
    with em.lock:
        comment = _comment(call, comment_id)
        before = issues.edit_comment(em, comment, text)
        if before != text:
            issue = call.repo.issues[comment.issue_number]
            changes = {"body": {"from": before}}
            own_events.comment(call, dispatch, issue, comment, "edited", changes)
        return render.comment(em, call.urls, call.repo, comment)


@router.post("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions")
def react_to_comment(
    call: Call, comment_id: int, body: JsonBody, response: Response
) -> dict[str, Any]:
    content = body.get("content")
    em = call.em
    with em.lock:
        comment = _comment(call, comment_id)
        bot = em.user(call.app.bot_login, "Bot").login
        try:
            reaction, created = issues.react(em, comment, bot, str(content))
        except ValueError:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Reaction",
                        "code": "custom",
                        "field": "content",
                        "message": f"content is not one of {', '.join(render.REACTIONS)}",
                    }
                ],
            ) from None
        response.status_code = 201 if created else 200
        return render.reaction(em, call.urls, reaction)
