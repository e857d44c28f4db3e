"""Check run and collaborator-permission routes.

Check runs carry ``external_id``, ``status`` (queued, in_progress, completed), ``conclusion``
(giving one completes the run) and ``output`` (title and summary required together;
annotations accumulate across updates, as on GitHub). Only the App that created a run may
update it. ``GET commits/{ref}/check-runs`` answers ``{"total_count", "check_runs"}``,
newest first, keeping only the latest run per name unless ``filter=all``.

``GET collaborators/{user}/permission`` answers ``permission`` folded the way GitHub folds
it (maintain is reported as write, triage as read) and the exact ``role_name``.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from bot.emulator import own_events, render
from bot.emulator.api_issues import paginate
from bot.emulator.deps import Call, Dispatch
from bot.emulator.errors import ApiError, not_found, unprocessable, validation_failed
from bot.emulator.state import CheckRun, Emulator

router = APIRouter()
JsonBody = Annotated[dict[str, Any], Body()]
STATUSES = ("queued", "in_progress", "completed")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
)
FOLDED = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read"}


def _date(body: dict[str, Any], field: str) -> datetime | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise unprocessable(f"Invalid request.\n\n{field} is not a timestamp.") from None


def _apply(em: Emulator, run: CheckRun, body: dict[str, Any]) -> None:
    """Apply the writable fields of a create or update body to ``run``."""
    for field in ("name", "details_url", "external_id"):
        if body.get(field) is not None:
            setattr(run, field, str(body[field]))
    run.started_at = _date(body, "started_at") or run.started_at
    status, conclusion = body.get("status"), body.get("conclusion")
    if status is not None and status not in STATUSES:
        raise unprocessable(f"Invalid request.\n\n{status!r} is not a valid status.")
    if conclusion is not None and conclusion not in CONCLUSIONS:
        raise unprocessable(f"Invalid request.\n\n{conclusion!r} is not a valid conclusion.")
    if status == "completed" and conclusion is None and run.conclusion is None:
        raise unprocessable("Invalid request.\n\nconclusion is required when status is completed.")
    if conclusion is not None:
        run.status, run.conclusion = "completed", conclusion
        run.completed_at = _date(body, "completed_at") or em.now()
    elif status is not None:
        run.status = status
        if status != "completed":
            run.conclusion, run.completed_at = None, None
    output = body.get("output")
    if output is not None:
        if not isinstance(output, dict) or not output.get("title") or "summary" not in output:
            raise unprocessable("Invalid request.\n\noutput needs a title and a summary.")
        if len(str(output.get("summary", ""))) > 65535:
            raise unprocessable("Invalid request.\n\noutput.summary is too long.")
        annotations = run.output.get("annotations", []) + list(output.get("annotations") or [])
        run.output = {**output, "annotations": annotations}
    if body.get("actions") is not None:
        if not isinstance(body["actions"], list) or len(body["actions"]) > 3:
            raise unprocessable("Invalid request.\n\nNo more than 3 actions are allowed.")
        run.actions = list(body["actions"])


@router.post("/repos/{owner}/{repo}/check-runs", status_code=201)
def create_check_run(call: Call, dispatch: Dispatch, body: JsonBody) -> dict[str, Any]:
    name, head_sha = body.get("name"), body.get("head_sha")
    for field, value in (("name", name), ("head_sha", head_sha)):
        if not isinstance(value, str) or not value:
            raise validation_failed(
                {"resource": "CheckRun", "code": "missing_field", "field": field}
            )
    assert isinstance(name, str) and isinstance(head_sha, str)
    em, repo = call.em, call.repo
    with em.lock:
        if repo.git.object_type(head_sha) != "commit":
            raise unprocessable(f"No commit found for SHA: {head_sha}")
        suite_key = (repo.full_name, head_sha, call.app.id)
        suite = em.check_suites.setdefault(suite_key, em.next_id())
        run = CheckRun(
            id=em.next_id(),
            owner=repo.owner,
            repo=repo.name,
            name=name,
            head_sha=head_sha,
            app_id=call.app.id,
            check_suite_id=suite,
            started_at=em.now(),
        )
        _apply(em, run, body)
        em.check_runs[run.id] = run
        own_events.check_run(call, dispatch, run, "created")
        if run.status == "completed":
            own_events.check_run(call, dispatch, run, "completed")
        return render.check_run(em, call.urls, repo, run)


def _run(call: Call, check_run_id: int) -> CheckRun:
    run = call.em.check_runs.get(check_run_id)
    if run is None or (run.owner, run.repo) != (call.repo.owner, call.repo.name):
        raise not_found()
    return run


@router.get("/repos/{owner}/{repo}/check-runs/{check_run_id}")
def get_check_run(call: Call, check_run_id: int) -> dict[str, Any]:
    with call.em.lock:
        return render.check_run(call.em, call.urls, call.repo, _run(call, check_run_id))


@router.patch("/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_check_run(
    call: Call, dispatch: Dispatch, check_run_id: int, body: JsonBody
) -> dict[str, Any]:
    with call.em.lock:
        run = _run(call, check_run_id)
        if run.app_id != call.app.id:
            raise ApiError(403, "Resource not accessible by integration")
        was = run.status
        _apply(call.em, run, body)
        if run.status == "completed" and was != "completed":
            own_events.check_run(call, dispatch, run, "completed")
        return render.check_run(call.em, call.urls, call.repo, run)


@router.get("/repos/{owner}/{repo}/commits/{ref:path}/check-runs")
def list_check_runs(
    call: Call,
    ref: str,
    request: Request,
    response: Response,
    check_name: str | None = None,
    status: str | None = None,
    app_id: int | None = None,
    filter: str = "latest",
    per_page: int = 30,
    page: int = 1,
) -> dict[str, Any]:
    em, repo = call.em, call.repo
    with em.lock:
        sha = repo.git.resolve_branch_or_sha(ref)
        if sha is None:
            raise unprocessable(f"No commit found for SHA: {ref}")
        runs = [
            r
            for r in sorted(em.check_runs.values(), key=lambda r: r.id, reverse=True)
            if (r.owner, r.repo) == (repo.owner, repo.name)
            and r.head_sha == sha
            and (check_name is None or r.name == check_name)
            and (status is None or r.status == status)
            and (app_id is None or r.app_id == app_id)
        ]
        if filter != "all":
            seen: set[tuple[int, str]] = set()
            latest = []
            for r in runs:
                if (r.app_id, r.name) not in seen:
                    seen.add((r.app_id, r.name))
                    latest.append(r)
            runs = latest
        chosen = paginate(runs, per_page, page, request, response)
        return {
            "total_count": len(runs),
            "check_runs": [render.check_run(em, call.urls, repo, r) for r in chosen],
        }


@router.get("/repos/{owner}/{repo}/collaborators/{username}/permission")
def collaborator_permission(call: Call, username: str) -> dict[str, Any]:
    em = call.em
    with em.lock:
        role = em.permission(call.repo, username)
        user = render.user(em, call.urls, username)
        rank = ("read", "triage", "write", "maintain", "admin")
        level = rank.index(role) if role in rank else -1
        user["permissions"] = {
            "admin": level >= 4,
            "maintain": level >= 3,
            "push": level >= 2,
            "triage": level >= 1,
            "pull": level >= 0,
        }
        user["role_name"] = role
        return {"permission": FOLDED.get(role, role), "role_name": role, "user": user}
