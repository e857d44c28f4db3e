"""Labels on issues and pull requests, and review requests on pull requests.

GitHub's answers reproduced here:

- ``POST issues/{n}/labels`` with ``{"labels": [names]}`` (or a bare list) answers 200 with
  every label of the issue. A label the repository lacks is created; a label the issue
  has already is not added twice (names compare case-insensitively).
- ``POST pulls/{n}/requested_reviewers`` with ``{"reviewers": [logins], "team_reviewers":
  [slugs]}`` answers 201 with the pull request. Requesting someone already requested
  changes nothing. One reviewer who cannot review refuses the *whole* request with 422:
  the PR's author (``Review cannot be requested from pull request author.``), or someone
  who is not a collaborator (``Reviews may only be requested from collaborators. ...``).

Known difference: the emulator has no team membership. Any team slug is accepted on a
repository owned by an organisation (GitHub would check the team can see the repository);
on a repository owned by a user every team is refused as a non-collaborator.
"""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Body

from bot.emulator import render
from bot.emulator.deps import Call, RepoCall
from bot.emulator.errors import ApiError, not_found, unprocessable, validation_failed
from bot.emulator.state import Issue, Label

router = APIRouter()
LABELS_DOCS = "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue"
REVIEWS_DOCS = (
    "https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request"
)


def _names(value: Any, field: str, docs: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise unprocessable(f'Invalid request.\n\n"{field}" must be a list of strings.', docs)
    return list(value)


def _issue(call: RepoCall, number: int, *, pull: bool = False) -> Issue:
    issue = call.repo.issues.get(number)
    if issue is None or (pull and issue.pull is None):
        raise not_found(REVIEWS_DOCS if pull else LABELS_DOCS)
    return issue


@router.post("/repos/{owner}/{repo}/issues/{number}/labels")
def add_labels(
    call: Call, number: int, body: Annotated[dict[str, Any] | list[Any], Body()]
) -> list[dict[str, Any]]:
    raw = body.get("labels") if isinstance(body, dict) else body
    if isinstance(raw, list):  # [{"name": ...}] is accepted as well as [name]
        raw = [v.get("name") if isinstance(v, dict) else v for v in raw]
    names = _names(raw, "labels", LABELS_DOCS)
    if not names:
        raise validation_failed(
            {"resource": "Label", "code": "missing_field", "field": "labels"},
            documentation_url=LABELS_DOCS,
        )
    em, repo = call.em, call.repo
    with em.lock:
        issue = _issue(call, number)
        for name in names:
            known = repo.labels.get(name.lower())
            if known is None:
                color = hashlib.sha256(name.encode()).hexdigest()[:6]
                known = repo.labels[name.lower()] = Label(em.next_id(), name, color)
            if all(n.lower() != name.lower() for n in issue.labels):
                issue.labels.append(known.name)
                issue.updated_at = em.now()
        return render.labels(call.urls, repo, issue)


@router.post("/repos/{owner}/{repo}/pulls/{number}/requested_reviewers", status_code=201)
def request_reviewers(
    call: Call, number: int, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    users = _names(body.get("reviewers"), "reviewers", REVIEWS_DOCS)
    teams = _names(body.get("team_reviewers"), "team_reviewers", REVIEWS_DOCS)
    if not users and not teams:
        raise unprocessable('Invalid request.\n\nNo subschema in "anyOf" matched.', REVIEWS_DOCS)
    em, repo = call.em, call.repo
    with em.lock:
        issue = _issue(call, number, pull=True)
        pr = issue.pull
        assert pr is not None
        if any(u.lower() == issue.user.lower() for u in users):
            raise ApiError(
                422,
                "Review cannot be requested from pull request author.",
                documentation_url=REVIEWS_DOCS,
            )
        org_owned = em.user(repo.owner).type == "Organization"
        if not all(em.is_collaborator(repo, u) for u in users) or (teams and not org_owned):
            raise ApiError(
                422,
                "Reviews may only be requested from collaborators. One or more of the users "
                "or teams you specified is not a collaborator of the "
                f"{repo.full_name} repository.",
                documentation_url=REVIEWS_DOCS,
            )
        for name in users:  # the request is all or nothing: checked first, then applied
            login = em.user(name).login
            if all(r.lower() != login.lower() for r in pr.requested_reviewers):
                pr.requested_reviewers.append(login)
        for slug in teams:
            if all(t.lower() != slug.lower() for t in pr.requested_teams):
                pr.requested_teams.append(slug)
        issue.updated_at = em.now()
        return render.pull(em, call.urls, repo, issue)
