"""What Farcaster writes for people: pure rendering from records."""

from dataclasses import replace
from typing import Any

import pytest

from bot.core.records import Event, JobState, ProposalRecord, Tombstone, display_state
from bot.core.vocab import EventKind, JobMode
from proposals import reports, trail
from proposals.markdown import code_block, code_span, table_cell
from proposals.reports import PullInfo
from tests.factories import BASE, NOW, make_job


def make_proposal(diff: str = "diff --git a/a b/a\n", **overrides: Any) -> ProposalRecord:
    values: dict[str, Any] = dict(
        id=1,
        job_id="0a1b2c3d4e5f",
        attempt=1,
        fencing_token=1,
        base_sha=BASE,
        diff=diff,
        diff_sha256="0" * 64,
        files_changed=2,
        additions=3,
        deletions=3,
        agent="rename",
        agent_version="1.0",
        agent_log="",
        verify={"outcome": "passed", "summary": "12 tests passed"},
        created_at=NOW,
    )
    values.update(overrides)
    return ProposalRecord(**values)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"at": NOW, "kind": kind, "attempt": 2, "token": 2, "data": data}


def table_rows(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("| 20")]


# -- markdown safety -------------------------------------------------------------------------


def test_a_code_span_holds_backticks_verbatim() -> None:
    assert code_span("a`b") == "``a`b``"
    assert code_span("`x`") == "`` `x` ``"


def test_a_code_block_cannot_be_closed_by_a_fence_inside_it() -> None:
    block = code_block("before\n```\nafter\n", "diff")
    assert block.startswith("````diff\n") and block.endswith("\n````")


def test_a_table_cell_is_one_line_with_pipes_escaped_and_bounded() -> None:
    cell = table_cell("a | b\nc <!-- x --> @bob " + "z" * 500, limit=80)
    assert "\n" not in cell and "\\|" in cell and "<!--" not in cell
    assert "@bob" not in cell  # no one is pinged from inside a report
    assert len(cell) < 100 and cell.endswith("…")


# -- pull request and commit ----------------------------------------------------------------


def test_the_pr_body_carries_the_marker_command_requester_stats_and_verify_result() -> None:
    body = reports.pr_body(make_job(), make_proposal())
    assert body.splitlines()[0] == "<!-- farcaster:job=0a1b2c3d4e5f -->"
    assert "`/farcaster rename old_name new_name`" in body
    assert "@alice in #7" in body
    assert "2 files, +3 -3" in body
    assert "passed (12 tests passed)" in body
    assert BASE[:12] in body


@pytest.mark.parametrize(
    ("command", "title"),
    [
        ({"name": "rename", "old": "a", "new": "b"}, "Rename a to b"),
        ({"name": "replace", "pattern": "x", "replacement": "y"}, "Replace x with y"),
        ({"name": "run", "agent": "coder", "instruction": "fix it\nplease"}, "coder: fix it"),
    ],
)
def test_pr_titles_say_what_the_command_does(command: dict[str, Any], title: str) -> None:
    assert reports.pr_title(make_job(command=command)) == title


def test_a_long_instruction_gives_a_bounded_title() -> None:
    job = make_job(command={"name": "run", "agent": "coder", "instruction": "word " * 100})
    assert len(reports.pr_title(job)) <= 120


def test_the_command_is_rebuilt_as_typed_with_quoting() -> None:
    job = make_job(
        mode=JobMode.PLAN,
        command={
            "name": "replace",
            "pattern": "a b",
            "replacement": "c",
            "regex": True,
            "paths": ["src/**"],
        },
    )
    assert reports.command_text(job) == "/farcaster plan replace 'a b' c --regex --path 'src/**'"


def test_the_commit_message_names_the_job_in_a_trailer() -> None:
    message = reports.commit_message(make_job(), make_proposal())
    assert message.splitlines()[0] == "Rename old_name to new_name"
    assert message.endswith("Farcaster-Job: 0a1b2c3d4e5f")


# -- status comments ------------------------------------------------------------------------


def test_a_job_waiting_for_a_later_time_is_scheduled() -> None:
    job = make_job(state=JobState.PROPOSED, run_after=NOW + 120)
    assert display_state(job, NOW) == "scheduled"
    assert display_state(job, NOW + 121) == "proposed"


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("open", "Opened pull request #12: https://x/pull/12"),
        ("merged", "was merged"),
        ("closed", "closed by a human without merging; Farcaster does not reopen it"),
    ],
)
def test_the_done_comment_tells_what_became_of_the_pull_request(state: str, words: str) -> None:
    pr = PullInfo(12, "https://x/pull/12", state)
    body = reports.done_comment(make_job(state=JobState.DONE), pr)
    assert words in body


def test_a_plan_shows_the_diff_collapsed_and_how_to_apply_it() -> None:
    diff = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
    body = reports.plan_comment(make_job(mode="plan"), make_proposal(diff))
    assert "<details><summary>Proposed diff</summary>" in body
    assert "```diff\n" + diff + "```" in body
    assert "`/farcaster apply 0a1b2c3d4e5f`" in body


def test_the_agents_notes_reach_the_pr_body_the_check_run_and_the_plan() -> None:
    log = (
        "Renamed the function a.old_name (a.py:1) to new_name.\n"
        "Note: old_name is also mentioned in 3 strings, not changed.\n"
        "changed a.py\n"
        "Noted in passing | not a note\n"
    )
    proposal = make_proposal(agent_log=log)
    job = make_job()
    pull = PullInfo(3, "https://github.test/o/r/pull/3", "open")
    row = "| Note | old_name is also mentioned in 3 strings, not changed. |"
    assert row in reports.pr_body(job, proposal).splitlines()
    assert row in reports.check_done(job, proposal, pull).summary.splitlines()
    plan = reports.plan_comment(make_job(mode="plan"), proposal)
    assert "Note: old_name is also mentioned in 3 strings, not changed." in plan
    assert "not a note" not in plan
    assert "| Note |" not in reports.pr_body(job, make_proposal())


def test_a_long_plan_is_cut_at_a_line_with_a_note() -> None:
    diff = "".join(f"+line {i}\n" for i in range(20_000))
    body = reports.plan_comment(make_job(mode="plan"), make_proposal(diff))
    assert len(body) < reports.COMMENT_LIMIT
    assert f"The diff is {len(diff):,} characters" in body
    assert "farcaster jobs show 0a1b2c3d4e5f" in body
    shown = body.split("```diff\n", 1)[1].split("```", 1)[0]
    assert shown.endswith("\n") and diff.startswith(shown)


# -- reports ----------------------------------------------------------------------------------


def test_the_tombstone_report_says_what_who_where_why_and_how_to_retry() -> None:
    events = [
        event("created", repo="octo/demo", agent="rename"),
        event("claimed", phase="apply", owner="w1"),
        event("attempt_failed", reason_code="context_mismatch", message="Hunk 1 | did not match"),
        event("tombstoned", reason_code="context_mismatch", message="Hunk 1 | did not match"),
    ]
    tomb = Tombstone("0a1b2c3d4e5f", "context_mismatch", "Hunk 1 did not match.", events, None, NOW)
    body = reports.tombstone_report(make_job(state=JobState.TOMBSTONED), tomb)
    assert "**Why it stopped:** Hunk 1 did not match. (`context_mismatch`)" in body
    assert "`/farcaster rename old_name new_name`, requested by @alice" in body
    assert BASE[:12] in body
    assert "| time (UTC) | attempt | step | outcome | message |" in body
    rows = table_rows(body)
    assert len(rows) == 4
    assert all(row.count(" | ") == 4 for row in rows)  # the escaped pipe did not add a column
    assert "failed: context_mismatch (final)" in rows[2]
    assert body.rstrip().endswith("To try again: `/farcaster retry 0a1b2c3d4e5f`")


def test_a_traceback_in_an_event_becomes_one_short_cell() -> None:
    message = 'Traceback (most recent call last):\n  File "x.py", line 1\n' + "boom " * 200
    tomb = Tombstone("j", "x", "x", [event("attempt_failed", message=message)], None, NOW)
    (row,) = table_rows(reports.tombstone_report(make_job(), tomb))
    assert "File" in row and len(row) < 400


def test_a_long_trail_shows_its_last_rows_and_says_how_many_were_left_out() -> None:
    events = [event("claimed", phase="run", owner=f"w{i}") for i in range(100)]
    tomb = Tombstone("j", "lease_expired", "It stopped answering.", events, None, NOW)
    body = reports.tombstone_report(make_job(), tomb)
    assert len(table_rows(body)) == trail.TRAIL_ROWS
    assert "60 earlier events; `farcaster jobs events 0a1b2c3d4e5f` lists all" in body
    assert "by w99" in body and "by w59 " not in body


def test_trail_rows_say_what_common_events_mean() -> None:
    assert trail.trail_row(event("drift", files=["a.py", "b.py"])).message == (
        "changed on the base branch: a.py, b.py"
    )
    effect = trail.trail_row(event("effect", step="commit", sha="c" * 40, content="k"))
    assert (effect.step, effect.outcome, effect.message) == ("commit", "effect", "sha=cccccccccccc")
    assert trail.trail_row(event("rate_limited", delay=120.0)).message.endswith("in 120 s")


def test_the_cancel_report_names_who_cancelled_and_why() -> None:
    events = [
        Event(1, "j", NOW, EventKind.CANCELLED, 1, 1, {"actor": "bob", "reason": "not needed"})
    ]
    body = reports.cancel_report(make_job(state=JobState.CANCELLED), events)
    assert "Cancelled by bob: not needed" in body
    assert "`/farcaster retry 0a1b2c3d4e5f`" in body


def test_check_run_output_is_the_report_without_its_marker_and_within_githubs_limit() -> None:
    body = reports.marker("j") + "\n" + "x" * 100_000
    output = reports.check_report("Stopped", body)
    assert not output.summary.startswith("<!--")
    assert len(output.summary) <= reports.CHECK_SUMMARY_LIMIT


def test_the_prefix_is_configurable_everywhere_a_command_is_shown() -> None:
    tomb = Tombstone("j", "x", "x", [], None, NOW)
    body = reports.tombstone_report(make_job(), tomb, prefix="@farcaster")
    assert "`@farcaster rename old_name new_name`" in body
    assert "`@farcaster retry 0a1b2c3d4e5f`" in body
    job = replace(make_job(), mode="plan")
    assert "`@farcaster apply" in reports.plan_comment(job, make_proposal(), prefix="@farcaster")
