"""`farcaster jobs list|show|events|retry|cancel|replay`: what an operator does with jobs.

Every command reads the store named by FARCASTER_DATABASE_URL, so it works from any
machine that can reach the database. JOB is a job id or an unambiguous prefix of one.
Output is a table for people; ``--json`` gives the same facts to scripts.
"""

import getpass
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.core.errors import ConfigurationError, FarcasterError, JobNotFound, StoreUnavailable
from bot.core.records import Event, Job, JobState, display_state
from bot.core.settings import get_settings
from bot.store import Database, Store

# Line breaks are kept by typer's help, so each code gets its line.
EXIT_CODES = """Exit codes, for scripts:
0 done
1 no such job, or the prefix matches several jobs
2 configuration or usage error
3 not possible in the job's state (the message says why)
4 the action failed (the message says why)"""

app = typer.Typer(
    help=f"List, inspect, retry, cancel and replay jobs.\n\n{EXIT_CODES}",
    no_args_is_help=True,
)

JobArg = Annotated[
    str, typer.Argument(metavar="JOB", help="A job id, or an unambiguous prefix of one.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


class NotPossible(Exception):
    """The action makes no sense in the job's current state; the message says why."""


class ActionFailed(Exception):
    """The action was tried and failed; the message says why."""


# -- plumbing ----------------------------------------------------------------------------


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"farcaster jobs: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _store() -> Iterator[Store]:
    """The store of FARCASTER_DATABASE_URL; errors become the documented exit codes."""
    store: Store | None = None
    try:
        settings = get_settings()
        store = Store(
            Database.from_url(settings.database_url),
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
            max_drifts=settings.max_drifts,
            max_waits=settings.max_waits,
        )
        yield store
    except JobNotFound as exc:
        _fail(1, exc.message)
    except ConfigurationError as exc:
        _fail(2, exc.message)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = "FARCASTER_" + str(error["loc"][0]).upper() if error["loc"] else "a setting"
        _fail(2, f"{name} is invalid: {error['msg']}.")
    except NotPossible as exc:
        _fail(3, str(exc))
    except StoreUnavailable as exc:
        _fail(2, exc.message)
    except (ActionFailed, FarcasterError) as exc:
        _fail(4, str(exc))
    finally:
        if store is not None:
            store.db.dispose()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "cli:unknown"


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _console() -> Console:
    # Made per call, so it writes to the stdout of the moment (tests swap it). Piped into
    # grep or a file, rows stay whole instead of being cut at 80 columns.
    width = None if sys.stdout.isatty() else 250
    return Console(file=sys.stdout, width=width, soft_wrap=False)


def _add_row(table: Table, *cells: str) -> None:
    """A row of data: job fields, tombstone summaries and event data are shown as written.

    Rich would read ``[agents.rename]`` in an error message as markup and drop it.
    """
    table.add_row(*(escape(cell) for cell in cells))


# -- formatting (pure) -------------------------------------------------------------------


def age(seconds: float) -> str:
    """``42s``, ``5m``, ``3h``, ``12d``: the largest whole unit."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float) -> float:
    """``2h``, ``3d``, ``45m`` (ago), or an ISO date or time (UTC unless it says otherwise)."""
    match = _SINCE.match(text.lower())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (30m, 2h, 3d, 1w) nor an ISO date (2026-01-31)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def summarize(data: dict[str, Any], width: int = 100) -> str:
    """An event's data on one line: ``key=value`` pairs, empty values left out."""
    parts = []
    for key, value in data.items():
        if value is None or value == "" or value == {} or value == []:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        parts.append(f"{key}={' '.join(str(text).split())}")
    line = " ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def pr_link(job: Job) -> str:
    return job.pr_url or (f"#{job.pr_number}" if job.pr_number else "")


def job_json(job: Job, now: float) -> dict[str, Any]:
    return {**asdict(job), "state": job.state.value, "display_state": display_state(job, now)}


def event_json(event: Event) -> dict[str, Any]:
    return asdict(event)


# -- commands ----------------------------------------------------------------------------

_STATE_CHOICES = [s.value for s in JobState] + ["scheduled"]


@app.command("list", epilog=EXIT_CODES)
def list_jobs(
    state: Annotated[
        str | None,
        typer.Option("--state", help=f"Only jobs in this state: {', '.join(_STATE_CHOICES)}."),
    ] = None,
    repo: Annotated[str | None, typer.Option("--repo", help="Only jobs of OWNER/NAME.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only jobs created since: 30m, 2h, 3d, or an ISO date."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    now = time.time()
    if state is not None and state not in _STATE_CHOICES:
        raise typer.BadParameter(
            f"{state!r} is not a state; choose from {', '.join(_STATE_CHOICES)}.",
            param_hint="--state",
        )
    since_at = parse_since(since, now) if since else None
    with _store() as store:
        if state == "scheduled":
            # Not a stored state: ready jobs whose run_after is still ahead.
            candidates = [
                job
                for ready in (JobState.QUEUED, JobState.PROPOSED)
                for job in store.list_jobs(
                    state=ready.value, repo=repo, since=since_at, limit=limit
                )
            ]
            jobs = sorted(
                (j for j in candidates if display_state(j, now) == "scheduled"),
                key=lambda j: j.created_at,
                reverse=True,
            )[:limit]
        else:
            jobs = store.list_jobs(state=state, repo=repo, since=since_at, limit=limit)
    if as_json:
        _print_json([job_json(job, now) for job in jobs])
        return
    table = Table(title=None, box=None, header_style="bold")
    for column in ("id", "repo", "#", "state", "failed", "agent", "age", "PR"):
        table.add_column(column, no_wrap=column in ("id", "state"))
    for job in jobs:
        _add_row(
            table,
            job.id,
            job.repo,
            str(job.issue_number or ""),
            display_state(job, now),
            f"{job.attempts}/{job.max_attempts}",
            job.agent,
            age(now - job.created_at),
            pr_link(job),
        )
    if not jobs:
        typer.echo("No jobs.")
        return
    _console().print(table)


@app.command(epilog=EXIT_CODES)
def show(job_id: JobArg, as_json: JsonOpt = False) -> None:
    """One job: command, state, proposal, verify outcome, effects, PR, tombstone, error."""
    now = time.time()
    with _store() as store:
        job = store.find(job_id)
        proposal = store.latest_proposal(job.id)
        effects = store.effects(job.id)
        tombstone = store.tombstone(job.id) if job.state is JobState.TOMBSTONED else None
    if as_json:
        _print_json(
            {
                "job": job_json(job, now),
                "proposal": (
                    {k: v for k, v in asdict(proposal).items() if k not in ("diff", "agent_log")}
                    if proposal
                    else None
                ),
                "effects": {step: e.result for step, e in effects.items()},
                "tombstone": (
                    {"reason_code": tombstone.reason_code, "summary": tombstone.summary}
                    if tombstone
                    else None
                ),
            }
        )
        return
    rows: list[tuple[str, str]] = [
        ("job", job.id),
        ("repo", f"{job.repo}#{job.issue_number}" if job.issue_number else job.repo),
        ("state", display_state(job, now)),
        ("command", summarize(job.command, width=200)),
        ("agent", job.agent),
        ("mode", job.mode),
        ("requester", job.requester or ""),
        ("base", f"{job.base_ref or '?'} @ {(job.base_sha or '?')[:12]}"),
        ("attempts", f"{job.attempts} of {job.max_attempts} failed"),
        ("created", f"{timestamp(job.created_at)} UTC ({age(now - job.created_at)} ago)"),
        ("updated", f"{timestamp(job.updated_at)} UTC ({age(now - job.updated_at)} ago)"),
    ]
    if display_state(job, now) == "scheduled":
        rows.append(("next try", f"in {age(job.run_after - now)}"))
    if job.lease_owner:
        left = (job.lease_expires_at or now) - now
        rows.append(("lease", f"{job.lease_owner}, token {job.fencing_token}, {left:.0f}s left"))
    if proposal is not None:
        verify = (proposal.verify or {}).get("outcome", "not run")
        rows.append(
            (
                "proposal",
                f"#{proposal.id} (attempt {proposal.attempt}): {proposal.files_changed} files, "
                f"+{proposal.additions} -{proposal.deletions}, {proposal.agent} "
                f"{proposal.agent_version}, diff {proposal.diff_sha256[:12]}",
            )
        )
        rows.append(("verify", str(verify)))
    rows.extend((f"effect {step}", summarize(e.result)) for step, e in effects.items())
    if pr_link(job):
        rows.append(("pull request", pr_link(job)))
    if job.outcome:
        rows.append(("outcome", job.outcome))
    if tombstone is not None:
        rows.append(("tombstone", f"{tombstone.reason_code}: {tombstone.summary}"))
    if job.last_error:
        rows.append(("last error", job.last_error))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in rows:
        _add_row(table, name, value)
    _console().print(table)


@app.command(epilog=EXIT_CODES)
def events(job_id: JobArg, as_json: JsonOpt = False) -> None:
    """The job's trail, oldest first: time, attempt, fencing token, kind, data."""
    with _store() as store:
        job = store.find(job_id)
        trail = store.events(job.id)
    if as_json:
        _print_json([event_json(event) for event in trail])
        return
    table = Table(box=None, header_style="bold")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("try", justify="right")
    table.add_column("token", justify="right")
    table.add_column("kind", no_wrap=True)
    table.add_column("data", overflow="fold")
    for event in trail:
        _add_row(
            table,
            timestamp(event.at),
            str(event.attempt),
            str(event.fencing_token),
            event.kind,
            summarize(event.data),
        )
    _console().print(table)


@app.command(epilog=EXIT_CODES)
def retry(
    job_id: JobArg,
    recompute: Annotated[
        bool,
        typer.Option("--recompute", help="Run the agent again instead of re-publishing."),
    ] = False,
) -> None:
    """Try a tombstoned, cancelled or planned job again.

    Re-publishes the stored proposal; without one, or with --recompute, the agent
    runs again. A job that is queued, running or done is left alone (exit 3).
    """
    with _store() as store:
        job = store.find(job_id)
        if not job.state.is_final and job.state is not JobState.PLANNED:
            raise NotPossible(
                f"job {job.id} is {job.state.value}: it is already on its way; "
                "a retry would change nothing."
            )
        if job.state is JobState.DONE:
            pr = f"its pull request {pr_link(job)}" if pr_link(job) else "its pull request"
            raise NotPossible(
                f"job {job.id} is done: {pr} exists. "
                "Use `farcaster jobs replay` to re-check its effects."
            )
        updated = store.retry(job.id, actor=_actor(), recompute=recompute)
    if updated.state is JobState.PROPOSED:
        typer.echo(f"job {updated.id}: the stored proposal will be published again.")
    else:
        typer.echo(f"job {updated.id}: queued; the agent will run again.")


@app.command(epilog=EXIT_CODES)
def cancel(
    job_id: JobArg,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the trail.")] = "",
) -> None:
    """Cancel a job that has not finished; a worker holding it loses its lease."""
    with _store() as store:
        job = store.find(job_id)
        if job.state.is_final:
            raise NotPossible(f"job {job.id} is already {job.state.value}; nothing to cancel.")
        updated = store.cancel(job.id, actor=_actor(), reason=reason)
        if updated.state is not JobState.CANCELLED:
            raise NotPossible(
                f"job {job.id} became {updated.state.value} meanwhile; nothing to cancel."
            )
    typer.echo(f"job {updated.id}: cancelled.")


@app.command(epilog=EXIT_CODES)
def replay(job_id: JobArg) -> None:
    """Interpret a job's stored proposal again, without running the agent.

    Every effect already done is found again, so nothing is created twice: use it
    after a crash, a lost report, or a fix to the interpreter.
    """
    try:
        from proposals.replay import replay as replay_job
    except ImportError:
        _fail(2, "this installation has no proposals.replay; replay is not available.")
    with _store() as store:
        job = store.find(job_id)
        if store.latest_proposal(job.id) is None:
            raise NotPossible(f"job {job.id} has no stored proposal to replay.")
        if job.state in (JobState.QUEUED, JobState.RUNNING, JobState.PROPOSED, JobState.APPLYING):
            raise NotPossible(
                f"job {job.id} is {job.state.value}: it is on its way already; "
                "replay it once it has finished."
            )
        updated = replay_job(store, job.id, actor=_actor())
    typer.echo(f"job {updated.id}: {updated.state.value}; a worker will interpret it again.")
