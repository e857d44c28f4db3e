"""The words Farcaster answers a comment with (pure functions; no I/O).

Replies never echo anything but what the commenter typed and the job's own record;
secrets never reach them.
"""

from collections.abc import Sequence

from bot.core.records import Job, JobState
from webhooks.commands import help_text


def help_reply(prefix: str, *, line: str | None = None, error: str | None = None) -> str:
    if error is None:
        return help_text(prefix)
    shown = (line or "").replace("`", "'")
    return f"I could not act on `{prefix.strip()} {shown}`: {error}.\n\n{help_text(prefix)}"


def refusal(user: str, permission: str) -> str:
    return (
        f"Sorry @{user}, only people with write access to this repository can ask Farcaster "
        f"to change code or jobs (your access is {permission!r}). "
        "A maintainer can post the same command."
    )


def no_such_job(job: str) -> str:
    return f"There is no job `{job}` in this repository."


def base_branch_missing(branch: str) -> str:
    return f"The base branch `{branch}` does not exist in this repository; nothing was started."


def unknown_agent(agent: str, known: Sequence[str]) -> str:
    shown = agent.replace("`", "'")
    return (
        f"There is no agent called `{shown}` here; nothing was started. "
        f"This Farcaster runs: {', '.join(f'`{name}`' for name in known)}."
    )


def job_line(job: Job) -> str:
    parts = [f"`{job.id}` ({job.agent}) is **{job.state.value}**"]
    if job.attempts:
        parts.append(f"{job.attempts} of {job.max_attempts} attempts failed")
    if job.pr_url:
        parts.append(f"pull request {job.pr_url}")
    if job.outcome:
        parts.append(f"outcome: {job.outcome.replace('_', ' ')}")
    if job.last_error and job.state is not JobState.DONE:
        parts.append(f"last error: {job.last_error[:300]}")
    return "; ".join(parts)


def status_reply(jobs: Sequence[Job], *, job: str | None = None) -> str:
    if job is not None:
        return f"Job {job_line(jobs[0])}." if jobs else no_such_job(job)
    if not jobs:
        return "Farcaster has no jobs on this issue yet."
    lines = [f"- {job_line(j)}" for j in jobs[:20]]
    more = [f"- … and {len(jobs) - 20} older jobs"] if len(jobs) > 20 else []
    return "\n".join(["Farcaster jobs on this issue:", "", *lines, *more])


def unchanged(job: Job, verb: str) -> str:
    return f"`{verb}` changes nothing: job {job_line(job)}."
