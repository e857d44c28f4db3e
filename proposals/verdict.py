"""How a verify verdict reads on GitHub: check-run conclusion, title, summary, annotations,
the pull request's line and the tombstone's sentence (pure).

The rules:

- Conclusion: ``success`` when the tests passed (or none were asked for), ``failure`` when
  they failed, ``neutral`` when they could not be judged (setup failed, timeout).
- The check run's title is the verdict's line, e.g. ``412 passed, 1 failed (1 new)``; its
  summary lists the new failures first, then those already failing on the base (which do
  not fail the job), and, when there was no JUnit XML, the log's redacted tail.
- An annotation per new failure whose file and line are known, at most
  :data:`MAX_ANNOTATIONS` (GitHub takes 50 per request). GitHub adds annotations up on every
  update, so they go only with the run's conclusion; a conclusion repeated after a crash
  (before the ledger recorded it) shows them twice, which is cosmetic.
- Test names and messages come from the repository: they pass through
  :mod:`proposals.markdown`.
"""

from typing import Any

from bot.core.verdict import FailedTest, Verdict, verdict_title
from proposals.markdown import code_block, code_span, plain

MAX_ANNOTATIONS = 50


def conclusion(verdict: Verdict | None) -> str:
    if verdict is None or verdict.outcome == "passed":
        return "success"
    return "failure" if verdict.outcome == "failed" else "neutral"


def title(verdict: Verdict) -> str:
    return plain(verdict_title(verdict), 200)


def pr_line(verdict: Verdict) -> str:
    """The one line of the pull request (and status comment) about the tests."""
    line = f"{verdict.outcome}: {verdict_title(verdict)}"
    if verdict.wants_draft:
        line += "; opened as a draft because the tests do not pass (verify.must_pass is false)"
    return plain(line, 300)


def _where(test: FailedTest) -> str:
    return f" at {code_span(f'{test.file}:{test.line}')}" if test.file and test.line else ""


def _items(tests: tuple[FailedTest, ...], total: int) -> list[str]:
    lines = [
        f"- {code_span(t.test)}{_where(t)}" + (f": {plain(t.message, 300)}" if t.message else "")
        for t in tests
    ]
    if total > len(tests):
        lines.append(f"- … and {total - len(tests)} more")
    return lines


def summary(verdict: Verdict) -> list[str]:
    """Markdown lines about the tests, for the check run's summary."""
    v = verdict
    lines = [f"**Tests:** {pr_line(v)}"]
    if v.note:
        lines += ["", plain(v.note, 400)]
    if v.new_failures:
        lines += ["", f"New failures ({v.new_count}):", *_items(v.new_failures, v.new_count)]
    if v.already_failing:
        lines += [
            "",
            f"Already failing on the base, not counted against this change ({v.already_count}):",
            *_items(v.already_failing, v.already_count),
        ]
    if not v.junit and v.log_tail.strip():
        lines += ["", "The end of the test log:", "", code_block(v.log_tail)]
    return lines


def failure_sentence(verdict: Verdict) -> str:
    """Why a job whose tests must pass stops (the tombstone's summary)."""
    v = verdict
    if v.outcome == "error":
        return f"The repository's tests could not be judged: {v.note or 'they did not run'}."
    if not v.new_failures:
        return f"The repository's tests failed with this change ({verdict_title(v)})."
    names = ", ".join(t.test for t in v.new_failures[:5])
    more = f" and {v.new_count - 5} more" if v.new_count > 5 else ""
    return (
        f"The repository's tests fail with this change ({verdict_title(v)}); "
        f"new failures: {names}{more}."
    )


def annotations(verdict: Verdict) -> list[dict[str, Any]]:
    """Check-run annotations at the file and line of each new failure."""
    found = []
    for test in verdict.new_failures:
        if not test.file or not test.line:
            continue
        found.append(
            {
                "path": test.file,
                "start_line": test.line,
                "end_line": test.line,
                "annotation_level": "failure",
                "title": test.test[:255],
                "message": test.message or "failed",
            }
        )
    return found[:MAX_ANNOTATIONS]
