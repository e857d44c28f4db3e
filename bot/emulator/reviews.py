"""Inline review comments on pull requests: where they may go, and GitHub's JSON for them.

Rules, as GitHub applies them (callers hold the emulator lock):

- A comment sits on ``line`` of ``path`` as of ``commit_id`` (default: the PR's head), on
  the ``RIGHT`` side (the new file) or the ``LEFT`` side (the old one). The path must be in
  the PR's diff (merge base to ``commit_id``) and the line inside one of its hunks,
  context lines included; otherwise 422 "Validation Failed" with GitHub's sentences
  (``pull_request_review_thread.path is invalid``, ``... line must be part of the diff``).
  A multi-line comment adds ``start_line`` (before ``line``) and ``start_side``.
- ``diff_hunk`` is the hunk's ``@@`` header and its lines down to the commented one;
  ``position`` (deprecated by GitHub, still sent) counts lines of the file's diff from the
  first ``@@`` header (the line after it is 1).
- A reply (``in_reply_to``) takes its thread's path, lines, side and commit; only a
  top-level comment can be replied to ("Replies to replies are not supported").
- Every comment gets its own ``pull_request_review_id`` (GitHub wraps a lone comment in a
  review of its own).
"""

import re
from dataclasses import dataclass
from typing import Any

from bot.emulator import render
from bot.emulator.errors import ApiError, validation_failed
from bot.emulator.render import Urls
from bot.emulator.state import Emulator, Issue, Repo, ReviewComment, node_id

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
SIDES = ("LEFT", "RIGHT")
DOCS = "https://docs.github.com/rest/pulls/comments#create-a-review-comment-for-a-pull-request"


@dataclass(frozen=True)
class Anchor:
    """Where a comment sits in the diff: its hunk (down to the line) and position."""

    diff_hunk: str
    position: int


def _invalid(message: str) -> ApiError:
    return validation_failed(
        {"resource": "PullRequestReviewComment", "code": "custom", "message": message},
        documentation_url=DOCS,
    )


def anchor(diff: str, line: int, side: str) -> Anchor | None:
    """The hunk text down to ``line`` on ``side`` and its position, or None if the line is
    not in the diff. ``diff`` is one file's unified diff, from its first ``@@`` line."""
    rows = diff.splitlines()
    old = new = 0
    header_at = -1
    for index, row in enumerate(rows):
        match = _HUNK.match(row)
        if match:
            old, new, header_at = int(match[1]), int(match[3]), index
            continue
        if header_at < 0 or row.startswith("\\"):
            continue  # before the first hunk, or "\ No newline at end of file"
        kind = row[:1]
        here = old if side == "LEFT" else new
        on_side = kind == " " or (kind == "-" if side == "LEFT" else kind == "+")
        if on_side and here == line:
            return Anchor("\n".join(rows[header_at : index + 1]), index)
        if kind in (" ", "-"):
            old += 1
        if kind in (" ", "+"):
            new += 1
    return None


def place(
    repo: Repo,
    issue: Issue,
    *,
    path: str,
    line: int,
    side: str,
    start_line: int | None,
    commit_id: str | None,
) -> tuple[str, Anchor]:
    """Check a new thread's place against the PR's diff: (commit id, anchor), or 422."""
    pr = issue.pull
    assert pr is not None
    git = repo.git
    commit = commit_id or pr.head_sha
    if git.object_type(commit) != "commit":
        raise _invalid("pull_request_review_thread.commit_id is not part of the pull request")
    if side not in SIDES:
        raise _invalid("pull_request_review_thread.side is not included in the list")
    base = git.merge_base(pr.base_sha, commit)
    if base is None or not git.is_ancestor(commit, pr.head_sha):
        raise _invalid("pull_request_review_thread.commit_id is not part of the pull request")
    diff = git.file_diff(base, commit, path)
    if not diff:
        raise _invalid("pull_request_review_thread.path is invalid")
    found = anchor(diff, line, side)
    if found is None:
        raise _invalid("pull_request_review_thread.line must be part of the diff")
    if start_line is not None and start_line >= line:
        raise _invalid("pull_request_review_thread.start_line must precede the end line.")
    return commit, found


def comment_json(em: Emulator, urls: Urls, repo: Repo, record: ReviewComment) -> dict[str, Any]:
    api = f"{urls.repo_api(repo)}/pulls/comments/{record.id}"
    web = f"{urls.repo_web(repo)}/pull/{record.pull_number}#discussion_r{record.id}"
    pull_api = f"{urls.repo_api(repo)}/pulls/{record.pull_number}"
    body: dict[str, Any] = {
        "url": api,
        "pull_request_review_id": record.review_id,
        "id": record.id,
        "node_id": node_id("PullRequestReviewComment", record.id),
        "diff_hunk": record.diff_hunk,
        "path": record.path,
        "position": record.position,
        "original_position": record.position,
        "commit_id": record.commit_id,
        "original_commit_id": record.commit_id,
        "user": render.user(em, urls, record.user),
        "body": record.body,
        "created_at": render.when(record.created_at),
        "updated_at": render.when(record.updated_at),
        "html_url": web,
        "pull_request_url": pull_api,
        "author_association": record.author_association,
        "_links": {
            "self": {"href": api},
            "html": {"href": web},
            "pull_request": {"href": pull_api},
        },
        "reactions": render.reactions_summary(f"{api}/reactions", record.reactions),
        "start_line": record.start_line,
        "original_start_line": record.start_line,
        "start_side": record.start_side,
        "line": record.line,
        "original_line": record.line,
        "side": record.side,
        "subject_type": "line",
    }
    if record.in_reply_to_id is not None:
        body["in_reply_to_id"] = record.in_reply_to_id
    return body


# The keys of a full pull request that the review-comment event's pull_request lacks.
_FULL_ONLY = (
    "additions",
    "changed_files",
    "comments",
    "commits",
    "deletions",
    "maintainer_can_modify",
    "mergeable",
    "mergeable_state",
    "merged",
    "merged_by",
    "rebaseable",
    "review_comments",
)


def simple_pull(em: Emulator, urls: Urls, repo: Repo, issue: Issue) -> dict[str, Any]:
    """The pull request as the ``pull_request_review_comment`` event carries it."""
    full = render.pull(em, urls, repo, issue)
    return {key: value for key, value in full.items() if key not in _FULL_ONLY}


def add(
    em: Emulator,
    repo: Repo,
    issue: Issue,
    *,
    user: str,
    body: str,
    path: str,
    line: int,
    side: str,
    start_line: int | None,
    start_side: str | None,
    commit_id: str,
    where: Anchor,
    in_reply_to: int | None = None,
    app_id: int | None = None,
    association: str | None = None,
) -> ReviewComment:
    now = em.now()
    record = ReviewComment(
        id=em.next_id(),
        review_id=em.next_id(),
        owner=repo.owner,
        repo=repo.name,
        pull_number=issue.number,
        user=user,
        body=body,
        path=path,
        line=line,
        side=side,
        start_line=start_line,
        start_side=start_side if start_line is not None else None,
        commit_id=commit_id,
        diff_hunk=where.diff_hunk,
        position=where.position,
        created_at=now,
        updated_at=now,
        author_association=association or em.author_association(repo, user),
        in_reply_to_id=in_reply_to,
        app_id=app_id,
    )
    em.review_comments[record.id] = record
    assert issue.pull is not None
    issue.pull.review_comment_ids.append(record.id)
    issue.updated_at = now
    return record


def reply(
    em: Emulator, repo: Repo, issue: Issue, to: ReviewComment, *, user: str, body: str, **extra: Any
) -> ReviewComment:
    """A reply in ``to``'s thread; 422 when ``to`` is itself a reply."""
    if to.in_reply_to_id is not None:
        raise _invalid("in_reply_to_id must be the id of a top-level review comment")
    return add(
        em,
        repo,
        issue,
        user=user,
        body=body,
        path=to.path,
        line=to.line,
        side=to.side,
        start_line=to.start_line,
        start_side=to.start_side,
        commit_id=to.commit_id,
        where=Anchor(to.diff_hunk, to.position),
        in_reply_to=to.id,
        **extra,
    )
