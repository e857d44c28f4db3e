"""The tombstone report's Mermaid chart: one bar per claim, a section per attempt."""

from typing import Any

from bot.core.records import JobState, Tombstone
from proposals import reports
from proposals.timeline import TIMELINE_BARS, attempts_gantt
from tests.factories import NOW, make_job


def ev(at: float, kind: str, attempt: int, **data: Any) -> dict[str, Any]:
    return {"at": NOW + at, "kind": kind, "attempt": attempt, "token": 0, "data": data}


TRAIL = [
    ev(0, "created", 0, repo="octo/demo"),
    ev(1, "claimed", 1, phase="run", owner="w1"),
    ev(3, "attempt_failed", 1, reason_code="agent_timeout", message="too slow"),
    ev(5, "claimed", 2, phase="run", owner="w2"),
    ev(35, "lease_expired", 2, owner="w2"),
    ev(35, "claimed", 3, phase="run", owner="w3"),
    ev(36, "proposal_stored", 3),
    ev(37, "claimed", 3, phase="apply", owner="w3"),
    ev(38, "drift", 3, phase="run"),
    ev(39, "claimed", 3, phase="run", owner="w3"),
    ev(40, "attempt_failed", 3, reason_code="unknown_symbol"),
    ev(40, "tombstoned", 3, reason_code="unknown_symbol"),
]


def ms(at: float) -> int:
    return round((NOW + at) * 1000)


def test_each_claim_is_a_bar_from_its_claim_to_what_ended_it() -> None:
    lines = attempts_gantt(TRAIL)
    assert lines[:4] == ["```mermaid", "gantt", "    dateFormat x", "    axisFormat %H:%M:%S"]
    assert lines[4:] == [
        "    section Attempt 1",
        f"    run - failed agent_timeout :crit, {ms(1)}, {ms(3)}",
        "    section Attempt 2",
        f"    run - lease expired :crit, {ms(5)}, {ms(35)}",
        "    section Attempt 3",
        f"    run - proposed :done, {ms(35)}, {ms(36)}",
        f"    apply - drift :active, {ms(37)}, {ms(38)}",
        f"    run - failed unknown_symbol :crit, {ms(39)}, {ms(40)}",
        "```",
    ]


def test_a_claim_that_never_ended_stops_at_the_last_event_and_names_are_plain() -> None:
    trail = [ev(1, "claimed", 1, phase="run: x; y#"), ev(2, "cancelled", 1)]
    (bar,) = [line for line in attempts_gantt(trail) if ":crit" in line]
    assert bar == f"    run x y - stopped :crit, {ms(1)}, {ms(2)}"


def test_a_long_trail_keeps_its_last_bars_and_a_job_never_claimed_has_no_chart() -> None:
    trail = [ev(i, k, i, phase="run") for i in range(50) for k in ("claimed", "rate_limited")]
    bars = [line for line in attempts_gantt(trail) if ":active" in line]
    assert len(bars) == TIMELINE_BARS and f"{ms(49)}" in bars[-1]
    assert attempts_gantt([ev(0, "created", 0)]) == []


def test_the_tombstone_report_carries_the_chart_beside_the_table() -> None:
    job = make_job(state=JobState.TOMBSTONED, attempts=3, max_attempts=5)
    tomb = Tombstone(job.id, "unknown_symbol", "No such name.", TRAIL, None, NOW)
    body = reports.tombstone_report(job, tomb)
    assert body.index("| time (UTC) |") < body.index("```mermaid\ngantt\n")
    assert "3 of 5 attempts failed" in body
