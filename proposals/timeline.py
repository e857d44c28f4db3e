"""A job's attempts as a Mermaid Gantt chart, for the tombstone report (pure).

GitHub renders a ```` ```mermaid ```` block as a diagram. Here each claim of the trail is
one bar, from its ``claimed`` event to the event that ended it, in a section per attempt:

- ``crit`` (red): the attempt failed (``attempt_failed``) or its lease expired;
- ``active``: the job was given back to wait or re-run (a drift, a rate limit, pacing);
- ``done``: the phase ended well (a proposal stored, a PR or plan made).

A claim the trail does not see end (the job was tombstoned or cancelled meanwhile) ends at
the last event. Times are the events' own (milliseconds since the epoch, ``dateFormat
x``); a bar shorter than a millisecond is drawn one millisecond long. Only characters
Mermaid reads as plain text reach a task's name, and the chart keeps the last
:data:`TIMELINE_BARS` bars.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.vocab import EventKind

TIMELINE_BARS = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.()/-]+")

_WAITS = {
    EventKind.DRIFT: "drift",
    EventKind.PROPOSAL_CHANGED: "proposal changed",
    EventKind.RATE_LIMITED: "rate limited",
    EventKind.PACED: "paced",
    EventKind.GITHUB_AUTH: "credentials refused",
}
_GOOD = {
    EventKind.PROPOSAL_STORED: "proposed",
    EventKind.COMPLETED: "pull request",
    EventKind.PLANNED: "planned",
}


@dataclass(frozen=True)
class Bar:
    attempt: int
    name: str
    tag: str  # crit, active, done
    start_ms: int
    end_ms: int


def _ms(entry: Mapping[str, Any]) -> int:
    return round(float(entry.get("at") or 0.0) * 1000)


def _ending(kind: str, data: Mapping[str, Any]) -> tuple[str, str] | None:
    """How an event ends an open claim: (what happened, tag); None when it does not."""
    if kind == EventKind.ATTEMPT_FAILED:
        return f"failed {data.get('reason_code') or 'error'}", "crit"
    if kind == EventKind.LEASE_EXPIRED:
        return "lease expired", "crit"
    if kind in _WAITS:
        return _WAITS[EventKind(kind)], "active"
    if kind in _GOOD:
        return _GOOD[EventKind(kind)], "done"
    return None


def attempt_bars(trail: Sequence[Mapping[str, Any]]) -> list[Bar]:
    bars: list[Bar] = []
    claim: Mapping[str, Any] | None = None
    for entry in trail:
        kind = str(entry.get("kind"))
        data: Mapping[str, Any] = entry.get("data") or {}
        ending = _ending(kind, data) if claim is not None else None
        if claim is not None and ending is not None:
            what, tag = ending
            phase = (claim.get("data") or {}).get("phase") or "claim"
            start = _ms(claim)
            bars.append(
                Bar(int(claim.get("attempt") or 0), f"{phase} - {what}", tag, start, _ms(entry))
            )
            claim = None
        if kind == EventKind.CLAIMED:
            claim = entry
    if claim is not None and trail:
        phase = (claim.get("data") or {}).get("phase") or "claim"
        last = _ms(trail[-1])
        bars.append(
            Bar(int(claim.get("attempt") or 0), f"{phase} - stopped", "crit", _ms(claim), last)
        )
    return bars


def attempts_gantt(trail: Sequence[Mapping[str, Any]]) -> list[str]:
    """The lines of a ```` ```mermaid ```` Gantt block of the trail's claims; none when the
    job was never claimed."""
    bars = attempt_bars(trail)[-TIMELINE_BARS:]
    if not bars:
        return []
    lines = ["```mermaid", "gantt", "    dateFormat x", "    axisFormat %H:%M:%S"]
    section = None
    for bar in bars:
        if bar.attempt != section:
            section = bar.attempt
            lines.append(f"    section Attempt {bar.attempt}")
        name = " ".join(_UNSAFE.sub(" ", bar.name).split())[:60] or "claim"
        end = max(bar.end_ms, bar.start_ms + 1)
        lines.append(f"    {name} :{bar.tag}, {bar.start_ms}, {end}")
    lines.append("```")
    return lines
