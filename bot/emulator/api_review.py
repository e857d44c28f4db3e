"""Review comments and commits of a pull request, read and answered by the App.

- ``GET pulls/{n}/comments`` lists the PR's review comments oldest first (``per_page`` at
  most 100, ``page``, ``Link``); ``GET pulls/comments/{id}`` shows one.
- ``POST pulls/{n}/comments/{id}/replies`` ``{body}`` answers 201 with a reply in the
  thread, posted by the App's bot user; the id must be a top-level comment of that PR
  (404 otherwise, 422 for a reply). Like the App's other comments it delivers nothing.
- ``GET pulls/{n}/commits`` lists the PR's commits oldest first, in the REST commit shape
  (``commit.author``/``committer``/``message``, the ``author``/``committer`` accounts or
  null, ``parents``), paginated like the other lists and, as on GitHub, never more than
  250 commits in all.
- ``GET pulls/{n}/files`` lists the files the PR changes (merge base to head), each with
  ``filename``, ``status``, ``additions``, ``deletions``, ``changes``, ``sha``, the URLs,
  ``previous_filename`` for a rename and ``patch`` (the hunks; absent for a binary file
  or a rename), paginated the same way, at most 3000 files.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from bot.emulator import issues, render, reviews
from bot.emulator.api_issues import paginate
from bot.emulator.deps import Call
from bot.emulator.errors import not_found, unprocessable
from bot.emulator.state import Issue, ReviewComment

router = APIRouter()
JsonBody = Annotated[dict[str, Any], Body()]
MAX_PULL_COMMITS = 250
MAX_PULL_FILES = 3000
COMMENTS_DOCS = "https://docs.github.com/rest/pulls/comments"


def _pull(call: Call, number: int) -> Issue:
    issue = call.repo.issues.get(number)
    if issue is None or issue.pull is None:
        raise not_found("https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
    issues.refresh_pull(call.repo, issue)
    return issue


def _comment(call: Call, comment_id: int) -> ReviewComment:
    found = call.em.review_comments.get(comment_id)
    if found is None or (found.owner, found.repo) != (call.repo.owner, call.repo.name):
        raise not_found(COMMENTS_DOCS)
    return found


@router.get("/repos/{owner}/{repo}/pulls/comments/{comment_id}")
def get_review_comment(call: Call, comment_id: int) -> dict[str, Any]:
    with call.em.lock:
        return reviews.comment_json(call.em, call.urls, call.repo, _comment(call, comment_id))


@router.get("/repos/{owner}/{repo}/pulls/{number}/comments")
def list_review_comments(
    call: Call, number: int, request: Request, response: Response, per_page: int = 30, page: int = 1
) -> list[dict[str, Any]]:
    em = call.em
    with em.lock:
        pr = _pull(call, number).pull
        assert pr is not None
        found = [em.review_comments[i] for i in pr.review_comment_ids]
        chosen = paginate(found, per_page, page, request, response)
        return [reviews.comment_json(em, call.urls, call.repo, c) for c in chosen]


@router.post("/repos/{owner}/{repo}/pulls/{number}/comments/{comment_id}/replies", status_code=201)
def reply(
    call: Call, number: int, comment_id: int, body: JsonBody, response: Response
) -> dict[str, Any]:
    text = body.get("body")
    if not isinstance(text, str) or not text:
        raise unprocessable('Invalid request.\n\n"body" wasn\'t supplied.', COMMENTS_DOCS)
    em = call.em
    with em.lock:
        issue = _pull(call, number)
        to = _comment(call, comment_id)
        if to.pull_number != number:
            raise not_found(COMMENTS_DOCS)
        bot = em.user(call.app.bot_login, "Bot").login
        made = reviews.reply(em, call.repo, issue, to, user=bot, body=text, app_id=call.app.id)
        result = reviews.comment_json(em, call.urls, call.repo, made)
    response.headers["location"] = result["url"]
    return result


@router.get("/repos/{owner}/{repo}/pulls/{number}/commits")
def list_pull_commits(
    call: Call, number: int, request: Request, response: Response, per_page: int = 30, page: int = 1
) -> list[dict[str, Any]]:
    em, git = call.em, call.repo.git
    with em.lock:
        pr = _pull(call, number).pull
        assert pr is not None
        base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
        # The oldest 250, as GitHub caps this list (rev_list keeps the newest N).
        shas = git.rev_list(pr.head_sha, [base], 10**6)[:MAX_PULL_COMMITS]
        chosen = paginate(shas, per_page, page, request, response)
        infos = [git.read_commit(sha) for sha in chosen]
        return [render.commit(em, call.urls, call.repo, info) for info in infos if info]


@router.get("/repos/{owner}/{repo}/pulls/{number}/files")
def list_pull_files(
    call: Call, number: int, request: Request, response: Response, per_page: int = 30, page: int = 1
) -> list[dict[str, Any]]:
    em, git = call.em, call.repo.git
    with em.lock:
        pr = _pull(call, number).pull
        assert pr is not None
        base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
        changes = git.diff_files(base, pr.head_sha)[:MAX_PULL_FILES]
        chosen = paginate(changes, per_page, page, request, response)
        listed = []
        for change in chosen:
            item = render.changed_file(call.urls, call.repo, pr.head_sha, change)
            if change.previous_filename is None:
                patch = git.file_diff(base, pr.head_sha, change.filename)
                if patch:  # none for a binary file, as on GitHub
                    item["patch"] = patch.rstrip("\n")
            listed.append(item)
        return listed
