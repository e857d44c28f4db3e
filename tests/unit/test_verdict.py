"""The verify verdict: JUnit XML from real pytest runs, new vs already failing, and how it
reads on GitHub."""

from pathlib import Path

import pytest

from bot.core.verdict import (
    UnreadableJUnit,
    Verdict,
    VerifyRun,
    judge,
    parse_junit,
    verdict_from_json,
    verdict_title,
)
from proposals import verdict as render

SAMPLES = Path(__file__).parents[1] / "samples" / "junit"
# Recorded from pytest 8 on tests/samples/junit's sample: the head lost an abs(), so
# test_area_is_never_negative fails; test_param[2] and the broken fixture fail on both.
HEAD = (SAMPLES / "pytest_mixed.xml").read_bytes()
BASE = (SAMPLES / "pytest_base.xml").read_bytes()


def test_parse_junit_reads_outcomes_messages_and_the_failing_line() -> None:
    cases = {c.name: c for c in parse_junit(HEAD)}
    assert len(cases) == 8
    failed = cases["test_area_is_never_negative"]
    assert (failed.outcome, failed.file, failed.line) == ("failed", "tests/test_sample.py", 11)
    assert failed.message.startswith("assert -2 == 2")
    assert failed.test_id == "tests.test_sample::test_area_is_never_negative"
    assert cases["test_uses_a_broken_fixture"].outcome == "failed"  # an error counts
    assert cases["test_known_bug"].outcome == "skipped"  # xfail is not a failure
    assert cases["test_skipped"].outcome == "skipped"
    assert cases["test_in_class"].classname == "tests.test_sample.TestGroup"


def test_xunit1_line_attribute_is_zero_based() -> None:
    xml = (
        b'<testsuite><testcase classname="t" name="x" file="tests/test_x.py" line="1">'
        b'<failure message="boom">no location here</failure></testcase></testsuite>'
    )
    (case,) = parse_junit(xml)
    assert (case.file, case.line) == ("tests/test_x.py", 2)


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><testsuite>&a;</testsuite>',
        b"<testsuite><testcase",
    ],
)
def test_hostile_or_broken_junit_is_refused_unread(xml: bytes) -> None:
    with pytest.raises(UnreadableJUnit):
        parse_junit(xml)


def test_only_failures_the_change_introduces_count_against_it() -> None:
    verdict = judge(VerifyRun(1, "log", junit=HEAD), VerifyRun(1, "", junit=BASE), must_pass=True)
    assert verdict.outcome == "failed"
    assert (verdict.passed, verdict.failed, verdict.skipped) == (3, 3, 2)
    assert [t.test for t in verdict.new_failures] == [
        "tests.test_sample::test_area_is_never_negative"
    ]
    assert {t.test for t in verdict.already_failing} == {
        "tests.test_sample::test_uses_a_broken_fixture",
        "tests.test_sample::test_param[2]",
    }
    assert verdict_title(verdict) == "3 passed, 3 failed, 2 skipped (1 new, 2 already failing)"
    assert verdict.blocks and not verdict.wants_draft


def test_a_test_already_failing_on_the_base_does_not_fail_the_verdict() -> None:
    verdict = judge(VerifyRun(1, "", junit=BASE), VerifyRun(1, "", junit=BASE), must_pass=True)
    assert verdict.outcome == "passed"
    assert verdict.already_count == 2 and verdict.new_count == 0
    assert not verdict.blocks
    assert render.conclusion(verdict) == "success"


def test_without_a_base_run_every_failure_is_new() -> None:
    verdict = judge(VerifyRun(1, "", junit=HEAD), None, must_pass=False)
    assert verdict.new_count == 3 and not verdict.compared_with_base
    assert verdict_title(verdict) == "3 passed, 3 failed, 2 skipped (3 new)"
    assert verdict.wants_draft and not verdict.blocks


def test_without_junit_the_exit_code_decides_and_the_log_tail_is_kept() -> None:
    verdict = judge(VerifyRun(2, "x" * 10_000 + "\nFAILED boom"), None, must_pass=True)
    assert verdict.outcome == "failed" and not verdict.junit
    assert verdict.log_tail.endswith("FAILED boom") and len(verdict.log_tail) == 4000
    assert verdict_title(verdict) == "the test command failed (exit 2)"
    assert "FAILED boom" in "\n".join(render.summary(verdict))


def test_a_command_that_fails_with_every_test_passing_has_not_passed() -> None:
    xml = b'<testsuite><testcase classname="t" name="ok"/></testsuite>'
    verdict = judge(VerifyRun(3, "", junit=xml), None, must_pass=True)
    assert verdict.outcome == "failed"
    assert "exited 3" in verdict.note


def test_a_setup_failure_or_timeout_is_an_error_reported_as_neutral() -> None:
    verdict = judge(
        VerifyRun(None, "", problem="the setup command exited 1"), None, must_pass=False
    )
    assert verdict.outcome == "error"
    assert render.conclusion(verdict) == "neutral"
    assert "could not be judged: the setup command exited 1" in verdict_title(verdict)
    assert verdict.wants_draft


def test_a_verdict_survives_its_json_round_trip() -> None:
    verdict = judge(VerifyRun(1, "log", junit=HEAD), VerifyRun(1, "", junit=BASE), must_pass=True)
    again = verdict_from_json(verdict.as_json())
    assert again == verdict
    assert verdict_from_json({"outcome": "passed", "log": ""}) is None  # an agent's own verify


def test_check_run_summary_lists_new_failures_then_already_failing() -> None:
    verdict = judge(VerifyRun(1, "", junit=HEAD), VerifyRun(1, "", junit=BASE), must_pass=False)
    text = "\n".join(render.summary(verdict))
    new_at = text.index("New failures (1):")
    already_at = text.index("Already failing on the base")
    assert new_at < already_at
    assert "`tests.test_sample::test_area_is_never_negative` at `tests/test_sample.py:11`" in text
    assert "opened as a draft because the tests do not pass" in text


def test_annotations_point_at_each_new_failure() -> None:
    verdict = judge(VerifyRun(1, "", junit=HEAD), VerifyRun(1, "", junit=BASE), must_pass=True)
    assert render.annotations(verdict) == [
        {
            "path": "tests/test_sample.py",
            "start_line": 11,
            "end_line": 11,
            "annotation_level": "failure",
            "title": "tests.test_sample::test_area_is_never_negative",
            "message": verdict.new_failures[0].message,
        }
    ]


def test_tombstone_sentence_names_the_new_failures() -> None:
    verdict = judge(VerifyRun(1, "", junit=HEAD), VerifyRun(1, "", junit=BASE), must_pass=True)
    assert render.failure_sentence(verdict) == (
        "The repository's tests fail with this change (3 passed, 3 failed, 2 skipped (1 new, 2 "
        "already failing)); new failures: tests.test_sample::test_area_is_never_negative."
    )


def test_untrusted_test_names_cannot_ping_or_inject_html() -> None:
    xml = (
        b'<testsuite><testcase classname="t" name="@octocat &lt;img&gt;">'
        b'<failure message="@admin &lt;script&gt;">x</failure></testcase></testsuite>'
    )
    verdict = judge(VerifyRun(1, "", junit=xml), None, must_pass=True)
    text = "\n".join(render.summary(verdict))
    assert "@admin" not in text and "<script>" not in text


def test_no_verdict_concludes_success() -> None:
    assert render.conclusion(None) == "success"
    assert render.conclusion(Verdict("failed", must_pass=True)) == "failure"
