"""Admin routes that show what happened over time (under ``/_emulator/``): every body a
comment had, and every move of a repository's refs.

- ``GET /repos/{o}/{r}/issues/{n}/comments``: the issue's comments, oldest first, each
  with ``history``: ``[{"at", "body"}]``, its first body and every edit that changed it,
  timed to the microsecond on the emulator's clock (a status comment's phases, in order).
- ``GET /repos/{o}/{r}/issues/comments/{id}``: one comment, the same way.
- ``GET /repos/{o}/{r}/ref-log?ref=``: every ref created, moved or deleted, oldest first:
  ``{"ref", "before", "after", "forced", "by", "via" (api | push | merge), "at"}``;
  ``ref`` filters by full name (``refs/heads/farcaster/x``). Counting force-moves of a
  proposal branch, or refreshes after a storm of pushes, reads this.
"""

from typing import Any

from fastapi import APIRouter

from bot.emulator.deps import Em
from bot.emulator.errors import not_found
from bot.emulator.state import Comment, Emulator, Repo

router = APIRouter(prefix="/_emulator")


def _repo(em: Emulator, owner: str, name: str) -> Repo:
    repo = em.repo(owner, name)
    if repo is None:
        raise not_found()
    return repo


def _comment(record: Comment) -> dict[str, Any]:
    return {
        "id": record.id,
        "issue_number": record.issue_number,
        "user": record.user,
        "body": record.body,
        "app_id": record.app_id,
        "history": [{"at": at.isoformat(), "body": body} for at, body in record.history],
    }


@router.get("/repos/{owner}/{repo}/issues/{number}/comments")
def issue_comments(em: Em, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
    with em.lock:
        issue = _repo(em, owner, repo).issues.get(number)
        if issue is None:
            raise not_found()
        return [_comment(em.comments[i]) for i in issue.comment_ids]


@router.get("/repos/{owner}/{repo}/issues/comments/{comment_id}")
def comment(em: Em, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
    with em.lock:
        record = _repo(em, owner, repo)
        found = em.comments.get(comment_id)
        if found is None or (found.owner, found.repo) != (record.owner, record.name):
            raise not_found()
        return _comment(found)


@router.get("/repos/{owner}/{repo}/ref-log")
def ref_log(em: Em, owner: str, repo: str, ref: str | None = None) -> list[dict[str, Any]]:
    with em.lock:
        return [
            {
                "ref": move.ref,
                "before": move.before,
                "after": move.after,
                "forced": move.forced,
                "by": move.by,
                "via": move.via,
                "at": move.at.isoformat(),
            }
            for move in _repo(em, owner, repo).ref_log
            if ref is None or move.ref == ref
        ]
