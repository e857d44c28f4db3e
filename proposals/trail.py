"""A job's event trail as a markdown table, for the tombstone report (pure).

One row per event: when, which attempt, which step, what happened, and a message. Events
hold one-line messages already; here every cell is also collapsed to one line, escaped
(pipes, HTML, mentions) and bounded, and a long trail keeps its last :data:`TRAIL_ROWS`
rows with a note saying how many were left out and where to read them all.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.vocab import EventKind
from proposals.markdown import table_cell

TRAIL_ROWS = 40


def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class TrailRow:
    time: str
    attempt: int
    step: str
    outcome: str
    message: str


_QUIET_KEYS = {"step", "phase", "message", "reason_code", "content", "diff_sha256"}


def _summarise(data: Mapping[str, Any]) -> str:
    """A few scalar facts of an event, ``key=value``; nested values and times are left out."""
    parts = []
    for key, value in data.items():
        if key in _QUIET_KEYS or key.endswith("_at") or value is None:
            continue
        if isinstance(value, dict | list):
            continue
        if isinstance(value, str) and len(value) == 40 and key.endswith("sha"):
            value = value[:12]
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def _by(data: Mapping[str, Any]) -> str:
    return f"by {data.get('actor') or data.get('owner') or 'someone'}"


# What the common events say, in a few words; other events list their scalar facts.
_MESSAGES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    EventKind.CREATED: lambda d: f"{d.get('agent')} job on {d.get('repo')}",
    EventKind.CLAIMED: _by,
    EventKind.LEASE_EXPIRED: lambda d: f"{d.get('owner') or 'the holder'} stopped answering",
    EventKind.PROPOSAL_STORED: lambda d: (
        f"{d.get('files')} files, +{d.get('additions')} -{d.get('deletions')}; "
        f"verify {d.get('verify') or 'not run'}"
    ),
    EventKind.DRIFT: lambda d: (
        "changed on the base branch: " + ", ".join(map(str, d.get("files") or []))
    ),
    EventKind.RATE_LIMITED: lambda d: (
        f"GitHub rate limit; retry in {float(d.get('delay') or 0):.0f} s"
    ),
    EventKind.PACED: lambda d: f"pacing GitHub writes; next in {float(d.get('delay') or 0):.1f} s",
    EventKind.FENCED_WRITE_REJECTED: lambda d: "a stale holder's write was refused",
    EventKind.RETRIED: _by,
    EventKind.REPLAY_REQUESTED: _by,
    EventKind.APPLY_REQUESTED: _by,
    EventKind.CANCELLED: _by,
}


def trail_row(entry: Mapping[str, Any]) -> TrailRow:
    """One event of a trail as a table row: when, which attempt, which step, what happened."""
    kind = str(entry.get("kind", "?"))
    data: Mapping[str, Any] = entry.get("data") or {}
    step = str(data.get("step") or data.get("phase") or "—")
    outcome = kind
    if kind == EventKind.ATTEMPT_FAILED:
        retry = "will retry" if data.get("retry_in") is not None else "final"
        outcome = f"failed: {data.get('reason_code', 'error')} ({retry})"
    elif kind == EventKind.TOMBSTONED:
        outcome = f"tombstoned: {data.get('reason_code', 'error')}"
    if data.get("message"):
        message = str(data["message"])
    elif kind in _MESSAGES:
        message = _MESSAGES[kind](data)
    else:
        message = _summarise(data)
    return TrailRow(
        utc(float(entry.get("at", 0.0))), int(entry.get("attempt", 0)), step, outcome, message
    )


def trail_table(trail: Sequence[Mapping[str, Any]], *, job_id: str) -> list[str]:
    rows = [trail_row(e) for e in trail]
    lines = ["| time (UTC) | attempt | step | outcome | message |", "|---|---|---|---|---|"]
    if len(rows) > TRAIL_ROWS:
        hidden = len(rows) - TRAIL_ROWS
        lines.append(
            f"| … | | | | {hidden} earlier events; `farcaster jobs events {job_id}` lists all |"
        )
        rows = rows[-TRAIL_ROWS:]
    for r in rows:
        lines.append(
            f"| {r.time} | {r.attempt} | {table_cell(r.step, 40)} | {table_cell(r.outcome, 60)} "
            f"| {table_cell(r.message, 160)} |"
        )
    return lines
