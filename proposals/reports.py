"""Everything Farcaster writes for people to read, rendered from records (pure).

The pull request's title and body, the commit message, the job's one status comment while
it works (queued, running, applying) and as it ends (done, planned), the tombstone and
cancel reports (that same comment, rewritten; the event trail's table comes from
:mod:`proposals.trail`, its Mermaid chart of the attempts from :mod:`proposals.timeline`)
and the check run's output. Every
body starts with the job's hidden marker, which is how the comment is found again.
Untrusted text (commands, messages, file names) passes through :mod:`proposals.markdown`;
events hold one-line messages, and long fields are truncated, so a report never carries a
traceback or more than a bounded amount of agent output. An agent speaks to the reviewer
through lines of its log that start with ``Note: `` (the rename agent's "also mentioned in
3 strings, not changed"): the first few are shown beside the changes.
"""

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.records import Event, Job, JobState, ProposalRecord, Tombstone
from bot.core.repo_config import render_title
from bot.core.verdict import verdict_from_json
from bot.core.vocab import EventKind, JobMode
from proposals import verdict as verdict_report
from proposals.markdown import code_block, code_span, plain, table_cell, truncate
from proposals.timeline import attempts_gantt
from proposals.trail import trail_table

DEFAULT_PREFIX = "/farcaster"
# GitHub refuses comment bodies over 65,536 characters and check-run summaries over 65,535.
COMMENT_LIMIT = 65_000
CHECK_SUMMARY_LIMIT = 65_000
PLAN_DIFF_LIMIT = 50_000
NOTE_PREFIX = "Note: "
MAX_NOTES = 3


@dataclass(frozen=True)
class PullInfo:
    """What a report needs to know about the job's pull request."""

    number: int
    url: str
    state: str  # "open", "closed" (by a human, unmerged) or "merged"


@dataclass(frozen=True)
class CheckOutput:
    title: str
    summary: str
    annotations: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        output: dict[str, Any] = {"title": self.title, "summary": self.summary}
        if self.annotations:
            output["annotations"] = list(self.annotations)
        return output


def marker(job_id: str) -> str:
    """The hidden line that identifies a job's status comment and pull request."""
    return f"<!-- farcaster:job={job_id} -->"


def short(sha: str | None) -> str:
    return sha[:12] if sha else "unknown"


# -- the command ---------------------------------------------------------------------------


def command_text(job: Job, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The command as a maintainer would type it, rebuilt from the job's command JSON."""
    command = job.command
    name = str(command.get("name", job.agent))
    if name == "rename":
        words = ["rename", command.get("old", ""), command.get("new", "")]
    elif name == "replace":
        words = ["replace", command.get("pattern", ""), command.get("replacement", "")]
        if command.get("regex"):
            words.append("--regex")
    elif name == "run":
        words = ["run", command.get("agent", ""), command.get("instruction", "")]
    elif name == "refresh":
        words = ["refresh", *(["--force"] if command.get("force") else [])]
    else:
        words = [name]
    for glob in command.get("paths") or []:
        words += ["--path", glob]
    text = " ".join(shlex.quote(str(w)) for w in words)
    plan = "plan " if job.mode is JobMode.PLAN else ""
    return f"{prefix} {plan}{text}"


def pr_title(job: Job, *, template: str | None = None) -> str:
    """The PR title: the repository's template (``pull_request.title``) or a plain sentence."""
    command = job.command
    if template:
        return render_title(template, command, job.id)
    name = command.get("name", job.agent)
    if name == "rename":
        title = f"Rename {command.get('old')} to {command.get('new')}"
    elif name == "replace":
        title = f"Replace {command.get('pattern')} with {command.get('replacement')}"
    elif name == "refresh":
        title = f"Refresh on {job.base_ref}"
    else:
        first = str(command.get("instruction", "")).strip().splitlines() or [""]
        title = f"{command.get('agent', job.agent)}: {first[0]}".rstrip(": ")
    return truncate(" ".join(title.split()), 120)


def _requester(job: Job) -> str:
    return f"@{job.requester}" if job.requester else "an operator"


def _where(job: Job) -> str:
    return f"#{job.issue_number}" if job.issue_number else job.repo


def _verify_line(verify: Mapping[str, Any] | None) -> str:
    verdict = verdict_from_json(verify)
    if verdict is not None:
        return verdict_report.pr_line(verdict)
    if not verify:
        return "not run"
    outcome = plain(str(verify.get("outcome", "unknown")), 40)
    summary = verify.get("summary")
    return f"{outcome} ({plain(str(summary), 200)})" if summary else outcome


def _changes_line(proposal: ProposalRecord) -> str:
    noun = "file" if proposal.files_changed == 1 else "files"
    return f"{proposal.files_changed} {noun}, +{proposal.additions} -{proposal.deletions}"


def agent_notes(proposal: ProposalRecord) -> list[str]:
    """The agent's notes to the reviewer: its log lines that start with ``Note: ``."""
    notes = [
        line[len(NOTE_PREFIX) :].strip()
        for line in proposal.agent_log.splitlines()
        if line.startswith(NOTE_PREFIX)
    ]
    return [n for n in notes if n][:MAX_NOTES]


def blocked_egress(events: Sequence[Event], attempt: int) -> list[str]:
    """What the egress proxy refused during ``attempt``: ``blocked: host:port (why)``."""
    return [
        str(e.data.get("message") or f"blocked: {e.data.get('target')}")
        for e in events
        if e.kind is EventKind.EGRESS_BLOCKED and e.attempt == attempt
    ]


def _network_row(blocked: Sequence[str]) -> list[str]:
    if not blocked:
        return []
    return [f"| Network | {table_cell('; '.join(blocked), 600)} |"]


def _facts(
    job: Job, proposal: ProposalRecord, *, prefix: str, blocked: Sequence[str] = ()
) -> list[str]:
    base = f"{code_span(job.base_ref)} at " if job.base_ref else ""
    notes = [f"| Note | {table_cell(note, 300)} |" for note in agent_notes(proposal)]
    return [
        "| | |",
        "|---|---|",
        f"| Command | {code_span(command_text(job, prefix=prefix))} |",
        f"| Requested by | {_requester(job)} in {_where(job)} |",
        f"| Base | {base}{code_span(short(proposal.base_sha))} |",
        f"| Changes | {_changes_line(proposal)} |",
        *notes,
        f"| Agent | {table_cell(f'{proposal.agent} {proposal.agent_version}', 60)} |",
        f"| Verify | {table_cell(_verify_line(proposal.verify), 240)} |",
        *_network_row(blocked),
    ]


def pr_body(
    job: Job,
    proposal: ProposalRecord,
    *,
    prefix: str = DEFAULT_PREFIX,
    blocked: Sequence[str] = (),
) -> str:
    lines = [
        marker(job.id),
        f"Farcaster job {code_span(job.id)} proposes this change.",
        "",
        *_facts(job, proposal, prefix=prefix, blocked=blocked),
        "",
        "The diff was made by the agent in a scratch checkout of the base commit, then "
        "validated against that commit before anything was written here. Farcaster does not "
        "push to this branch again; close the pull request to drop the change.",
    ]
    return "\n".join(lines)


def commit_message(job: Job, proposal: ProposalRecord, *, prefix: str = DEFAULT_PREFIX) -> str:
    return "\n".join(
        [
            pr_title(job),
            "",
            f"Requested by {job.requester or 'an operator'} with:",
            f"    {truncate(command_text(job, prefix=prefix), 500)}",
            "",
            f"Base: {proposal.base_sha}",
            f"Farcaster-Job: {job.id}",
        ]
    )


# -- the status comment --------------------------------------------------------------------


def _heading(job: Job, text: str, *, prefix: str) -> list[str]:
    return [
        marker(job.id),
        f"**Farcaster** · job {code_span(job.id)} · {text}",
        "",
        f"{code_span(command_text(job, prefix=prefix))}, requested by {_requester(job)}.",
    ]


PROGRESS = {
    JobState.QUEUED: "Accepted: waiting for a worker.",
    JobState.RUNNING: "Running: the agent works on a scratch checkout of the base commit.",
    JobState.APPLYING: "Applying: the diff is checked against its base, then written to GitHub.",
}


def progress_comment(job: Job, *, prefix: str = DEFAULT_PREFIX) -> str:
    """The status comment while the job works (queued, running, applying); it is edited in
    place at each of them, and at the end holds the pull request, the plan or the report."""
    ends = "the plan" if job.mode is JobMode.PLAN else "the pull request"
    lines = [
        *_heading(job, job.state.value, prefix=prefix),
        "",
        PROGRESS[job.state],
        "",
        f"This comment is edited as the job goes on, and ends with {ends} or a report.",
    ]
    return "\n".join(lines) + "\n"


def done_comment(
    job: Job,
    pr: PullInfo,
    *,
    prefix: str = DEFAULT_PREFIX,
    revisions: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """The status comment once the job's pull request exists (or was closed or merged),
    with its revisions, one line each (proposals/revisions.py), when there are any."""
    if pr.state == "closed":
        title = "closed by a human"
        text = (
            f"Pull request #{pr.number} was closed by a human without merging; Farcaster "
            f"does not reopen it. The branch {code_span(job.branch)} is left as it is."
        )
    elif pr.state == "merged":
        title, text = "merged", f"Pull request #{pr.number} was merged."
    else:
        title, text = "done", f"Opened pull request #{pr.number}: {pr.url}"
    listed = ["", "**Revisions**", "", *revisions] if revisions else []
    noted = ["", *notes] if notes and pr.state == "open" else []
    return "\n".join([*_heading(job, title, prefix=prefix), "", text, *noted, *listed]) + "\n"


def plan_comment(
    job: Job, proposal: ProposalRecord, *, prefix: str = DEFAULT_PREFIX, blocked: Sequence[str] = ()
) -> str:
    """The plan: what the agent would change, collapsed, and how to turn it into a PR."""
    diff = proposal.diff
    note = ""
    if len(diff) > PLAN_DIFF_LIMIT:
        cut = diff.rfind("\n", 0, PLAN_DIFF_LIMIT) + 1 or PLAN_DIFF_LIMIT
        note = (
            f"\n\nThe diff is {len(diff):,} characters; the first {cut:,} are shown. "
            f"`farcaster jobs show {job.id}` prints all of it."
        )
        diff = diff[:cut]
    lines = [
        *_heading(job, "planned", prefix=prefix),
        "",
        f"The agent proposes {_changes_line(proposal)} on {code_span(short(proposal.base_sha))}"
        f" (verify: {plain(_verify_line(proposal.verify), 240)}). No branch or pull request "
        "was created.",
        *[f"Note: {plain(note, 300)}" for note in agent_notes(proposal)],
        *[f"Network: {plain(line, 300)}" for line in blocked],
        "",
        "<details><summary>Proposed diff</summary>",
        "",
        code_block(diff, "diff") + note,
        "",
        "</details>",
        "",
        f"To open a pull request from exactly this diff: {code_span(f'{prefix} apply {job.id}')}",
    ]
    return truncate("\n".join(lines), COMMENT_LIMIT) + "\n"


# -- reports: tombstone and cancel ---------------------------------------------------------


def tombstone_report(
    job: Job,
    tombstone: Tombstone,
    *,
    base_sha: str | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """The status comment of a job that will not be retried by itself: why, and what now."""
    base = base_sha or job.base_sha
    lines = [
        *_heading(job, "stopped", prefix=prefix),
        "",
        f"**Why it stopped:** {plain(tombstone.summary, 400)} ({code_span(tombstone.reason_code)})",
        "",
        f"Base {code_span(job.base_ref) + ' at ' if job.base_ref else ''}"
        f"{code_span(short(base))}; {job.attempts} of {job.max_attempts} attempts failed "
        "(claims, phase changes, drifts and waits spend none).",
        "",
        *trail_table(tombstone.trail, job_id=job.id),
        "",
        *_timeline(tombstone.trail),
        f"To try again: {code_span(f'{prefix} retry {job.id}')}",
    ]
    return truncate("\n".join(lines), COMMENT_LIMIT) + "\n"


def _timeline(trail: Sequence[Mapping[str, Any]]) -> list[str]:
    gantt = attempts_gantt(trail)
    return ["The attempts over time:", "", *gantt, ""] if gantt else []


def cancel_report(job: Job, events: Sequence[Event], *, prefix: str = DEFAULT_PREFIX) -> str:
    cancelled = next((e for e in reversed(events) if e.kind is EventKind.CANCELLED), None)
    actor = str(cancelled.data.get("actor") or "someone") if cancelled else "someone"
    reason = str(cancelled.data.get("reason") or "") if cancelled else ""
    why = f": {plain(reason, 300)}" if reason else "."
    lines = [
        *_heading(job, "cancelled", prefix=prefix),
        "",
        f"Cancelled by {plain(actor, 60)}{why} Nothing more will be done; a branch or pull "
        "request it already opened is left as it is.",
        "",
        f"To start it again: {code_span(f'{prefix} retry {job.id}')}",
    ]
    return "\n".join(lines) + "\n"


# -- check run output ----------------------------------------------------------------------


def _without_marker(body: str) -> str:
    return body.split("\n", 1)[1] if body.startswith("<!--") else body


def check_in_progress(job: Job, *, prefix: str = DEFAULT_PREFIX) -> CheckOutput:
    return CheckOutput(
        "Running the agent",
        f"Job `{job.id}`: {code_span(command_text(job, prefix=prefix))}, "
        f"requested by {_requester(job)}.",
    )


def check_done(
    job: Job,
    proposal: ProposalRecord,
    pr: PullInfo,
    *,
    prefix: str = DEFAULT_PREFIX,
    blocked: Sequence[str] = (),
) -> CheckOutput:
    """The check run of an opened PR; with a verify verdict, its title is the tests' line."""
    facts = _facts(job, proposal, prefix=prefix, blocked=blocked)
    lines = [f"Pull request #{pr.number}: {pr.url}", "", *facts]
    title = "Pull request opened" if pr.state == "open" else f"Pull request {pr.state}"
    verdict = verdict_from_json(proposal.verify)
    if verdict is None:
        return CheckOutput(title, truncate("\n".join(lines), CHECK_SUMMARY_LIMIT))
    lines += ["", *verdict_report.summary(verdict)]
    return CheckOutput(
        verdict_report.title(verdict),
        truncate("\n".join(lines), CHECK_SUMMARY_LIMIT),
        tuple(verdict_report.annotations(verdict)),
    )


def check_plan(
    job: Job, proposal: ProposalRecord, *, prefix: str = DEFAULT_PREFIX, blocked: Sequence[str] = ()
) -> CheckOutput:
    summary = "\n".join(
        [
            "Plan posted on the issue; no branch or pull request was created.",
            "",
            *_facts(job, proposal, prefix=prefix, blocked=blocked),
        ]
    )
    return CheckOutput(f"Plan: {_changes_line(proposal)}", truncate(summary, CHECK_SUMMARY_LIMIT))


def check_report(title: str, body: str) -> CheckOutput:
    """A report comment as check-run output: the same text, without the marker line."""
    return CheckOutput(title, truncate(_without_marker(body), CHECK_SUMMARY_LIMIT))
