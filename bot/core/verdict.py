"""The verify verdict: what the repository's own tests said about a proposal (pure).

After the agent, the runner runs the repository's test command on the proposed tree (and,
with ``compare_with_base``, on the base tree when the proposed one has failures). Each run
is a :class:`VerifyRun`; :func:`judge` turns them into a :class:`Verdict`, which is stored
with the proposal (as JSON, :meth:`Verdict.as_json`) for the interpreter to report.

The rules:

- The tests' results come from JUnit XML when the command wrote it to the path the runner
  exported as ``FARCASTER_JUNIT_XML``; otherwise from the exit code alone (0 passes), and
  the report shows the log's redacted tail instead of test names.
- The XML is untrusted: at most :data:`MAX_JUNIT_BYTES`, and refused unread when it holds a
  ``<!DOCTYPE`` or ``<!ENTITY`` (no entity expansion, whatever Expat's version).
  Unreadable XML falls back to the exit code, and the verdict says so.
- A test is known by its class name and name. It *failed* when it has a ``failure`` or an
  ``error`` element; ``skipped`` (xfail included) is neither passed nor failed.
- A *new* failure failed on the proposed tree and not on the base; a test that failed on
  both is *already failing* and does not fail the verdict. Without a base run (or without
  JUnit on either side) every failure counts as new.
- Outcome: ``passed`` (no new failure, and without JUnit exit 0), ``failed``, or ``error``
  (the setup failed, the command could not start or ran past its timeout: nothing was
  judged). ``must_pass`` travels with the verdict so that whoever reports it knows what it
  means for the job.
- Bounded: at most :data:`MAX_LISTED` tests listed per kind, messages cut to
  :data:`MAX_MESSAGE_CHARS`, the log tail to :data:`LOG_TAIL_CHARS`.
"""

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

MAX_JUNIT_BYTES = 32 * 1024 * 1024
MAX_LISTED = 50
MAX_MESSAGE_CHARS = 300
LOG_TAIL_CHARS = 4000

# The last "path:line: " of a traceback (pytest ends a failure's text with the test's line).
_LOCATION = re.compile(r"^([^\s:][^:\n]*):(\d+): ", re.MULTILINE)


class UnreadableJUnit(ValueError):
    """JUnit XML that is too large, declares a DTD, or does not parse."""


@dataclass(frozen=True)
class CaseResult:
    """One test case of a JUnit report."""

    classname: str
    name: str
    outcome: str  # passed | failed | skipped
    message: str = ""
    file: str | None = None  # relative to the repository root, when known
    line: int | None = None  # 1-based

    @property
    def key(self) -> tuple[str, str]:
        return (self.classname, self.name)

    @property
    def test_id(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


def parse_junit(data: bytes) -> list[CaseResult]:
    """Every ``testcase`` of a JUnit XML report (``testsuites`` or a lone ``testsuite``)."""
    if len(data) > MAX_JUNIT_BYTES:
        raise UnreadableJUnit(f"the JUnit XML is {len(data)} bytes, over {MAX_JUNIT_BYTES}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnreadableJUnit("the JUnit XML declares a DTD or entities; refused unread")
    try:
        root = ET.fromstring(data)  # noqa: S314 (no DTD, so no entity can expand)
    except ET.ParseError as exc:
        raise UnreadableJUnit(f"the JUnit XML does not parse ({exc})") from None
    return [_case(case) for case in root.iter("testcase")]


def _case(case: ET.Element) -> CaseResult:
    classname, name = case.get("classname", ""), case.get("name", "")
    problem = next((c for c in case if c.tag in ("failure", "error")), None)
    if problem is None:
        skipped = any(c.tag == "skipped" for c in case)
        return CaseResult(classname, name, "skipped" if skipped else "passed")
    text = problem.text or ""
    message = problem.get("message") or (text.strip().splitlines() or [problem.tag])[-1]
    file, line = _location(text, case)
    return CaseResult(classname, name, "failed", _cut(message), file, line)


def _location(text: str, case: ET.Element) -> tuple[str | None, int | None]:
    """Where the failure happened: the traceback's last relative ``path:line``, else the
    xunit1 ``file``/``line`` attributes (whose line is 0-based)."""
    for path, line in reversed(_LOCATION.findall(text)):
        if not path.startswith(("/", "<")) and ".." not in path.split("/"):
            return path, int(line)
    file, line = case.get("file"), case.get("line")
    if file and line and line.isdigit() and not file.startswith("/"):
        return file, int(line) + 1
    return None, None


def _cut(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class VerifyRun:
    """What one run of the verify command produced, on one tree."""

    exit_code: int | None  # None: it did not finish (timeout) or never started
    log: str  # redacted
    seconds: float = 0.0
    junit: bytes | None = None  # the file at FARCASTER_JUNIT_XML, if one was written
    problem: str | None = None  # a sentence when nothing could be judged (setup, timeout)


@dataclass(frozen=True)
class FailedTest:
    test: str
    message: str = ""
    file: str | None = None
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"test": self.test, "message": self.message, "file": self.file, "line": self.line}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # passed | failed | error
    must_pass: bool
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    new_failures: tuple[FailedTest, ...] = ()
    already_failing: tuple[FailedTest, ...] = ()
    new_count: int = 0  # may exceed len(new_failures), which is bounded
    already_count: int = 0
    exit_code: int | None = None
    junit: bool = False  # whether counts and names come from JUnit XML
    compared_with_base: bool = False
    note: str = ""  # a sentence: why nothing was judged, or why JUnit was not used
    log_tail: str = ""
    seconds: float = 0.0

    @property
    def blocks(self) -> bool:
        """Whether the job must stop here: the tests must pass and they did not."""
        return self.must_pass and self.outcome != "passed"

    @property
    def wants_draft(self) -> bool:
        """Whether the PR opens as a draft: the tests need not pass, and they did not."""
        return not self.must_pass and self.outcome != "passed"

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "must_pass": self.must_pass,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "new_failures": [f.as_json() for f in self.new_failures],
            "already_failing": [f.as_json() for f in self.already_failing],
            "new_count": self.new_count,
            "already_count": self.already_count,
            "exit_code": self.exit_code,
            "junit": self.junit,
            "compared_with_base": self.compared_with_base,
            "note": self.note,
            "log": self.log_tail,
            "seconds": round(self.seconds, 3),
            "summary": verdict_title(self),
        }


def verdict_from_json(data: Mapping[str, Any] | None) -> Verdict | None:
    """A stored verdict; None for none, or for the outcome-only records of older proposals."""
    if not data or "must_pass" not in data:
        return None

    def tests(key: str) -> tuple[FailedTest, ...]:
        return tuple(
            FailedTest(
                str(t.get("test", "")), str(t.get("message", "")), t.get("file"), t.get("line")
            )
            for t in data.get(key) or []
            if isinstance(t, Mapping)
        )

    return Verdict(
        outcome=str(data.get("outcome", "error")),
        must_pass=bool(data["must_pass"]),
        passed=int(data.get("passed", 0)),
        failed=int(data.get("failed", 0)),
        skipped=int(data.get("skipped", 0)),
        new_failures=tests("new_failures"),
        already_failing=tests("already_failing"),
        new_count=int(data.get("new_count", 0)),
        already_count=int(data.get("already_count", 0)),
        exit_code=data.get("exit_code"),
        junit=bool(data.get("junit")),
        compared_with_base=bool(data.get("compared_with_base")),
        note=str(data.get("note", "")),
        log_tail=str(data.get("log", "")),
        seconds=float(data.get("seconds", 0.0)),
    )


def verdict_title(verdict: Verdict) -> str:
    """One line: ``412 passed, 1 failed (1 new)``, or what happened instead."""
    v = verdict
    if v.outcome == "error":
        return f"the tests could not be judged: {v.note}" if v.note else "the tests did not run"
    if not v.junit:
        word = "passed" if v.outcome == "passed" else "failed"
        return f"the test command {word} (exit {v.exit_code})"
    counts = f"{v.passed} passed, {v.failed} failed"
    if v.skipped:
        counts += f", {v.skipped} skipped"
    if not v.failed:
        return counts
    if v.already_count:
        return f"{counts} ({v.new_count} new, {v.already_count} already failing)"
    return f"{counts} ({v.new_count} new)"


def judge(head: VerifyRun, base: VerifyRun | None, *, must_pass: bool) -> Verdict:
    """The verdict on the proposed tree (``head``), against the base tree's run if any."""
    plain = Verdict(
        "error",
        must_pass,
        exit_code=head.exit_code,
        log_tail=head.log[-LOG_TAIL_CHARS:],
        seconds=head.seconds + (base.seconds if base else 0.0),
    )
    if head.problem is not None or head.exit_code is None:
        return replace(plain, note=head.problem or "the test command did not finish")
    cases, note = _cases(head)
    if cases is None:
        return replace(plain, outcome="passed" if head.exit_code == 0 else "failed", note=note)
    failing = [c for c in cases if c.outcome == "failed"]
    before = _failed_on(base)
    new = [c for c in failing if before is None or c.key not in before]
    already = [c for c in failing if before is not None and c.key in before]
    if failing:
        outcome = "failed" if new else "passed"
    elif head.exit_code == 0:
        outcome = "passed"
    else:
        # Every test passed, yet the command failed (a collection error outside any test,
        # a coverage threshold): that is not a pass.
        outcome, note = "failed", f"every test passed, but the command exited {head.exit_code}"
    return replace(
        plain,
        outcome=outcome,
        passed=sum(c.outcome == "passed" for c in cases),
        failed=len(failing),
        skipped=sum(c.outcome == "skipped" for c in cases),
        new_failures=tuple(_listed(new)),
        already_failing=tuple(_listed(already)),
        new_count=len(new),
        already_count=len(already),
        junit=True,
        compared_with_base=before is not None,
        note=note,
    )


def _cases(run: VerifyRun) -> tuple[list[CaseResult] | None, str]:
    if run.junit is None:
        return None, "the test command wrote no JUnit XML to $FARCASTER_JUNIT_XML"
    try:
        return parse_junit(run.junit), ""
    except UnreadableJUnit as exc:
        return None, str(exc)


def _failed_on(base: VerifyRun | None) -> set[tuple[str, str]] | None:
    """The tests that failed on the base tree; None when the base run cannot tell."""
    if base is None or base.problem is not None or base.junit is None:
        return None
    try:
        return {c.key for c in parse_junit(base.junit) if c.outcome == "failed"}
    except UnreadableJUnit:
        return None


def _listed(cases: Sequence[CaseResult]) -> list[FailedTest]:
    return [FailedTest(c.test_id, c.message, c.file, c.line) for c in cases[:MAX_LISTED]]
