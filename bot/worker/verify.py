"""The verify step: the repository's own tests, run on the proposed tree (and the base).

After the agent and after the diff is taken (so nothing the tests write can join the
proposal), the runner calls :func:`verify_proposal` with the repository's ``verify``
settings. It runs, in the proposed tree:

1. ``setup``, if any; a setup that fails or times out means nothing can be judged;
2. ``run``, with ``FARCASTER_JUNIT_XML`` naming a file for JUnit XML, and
   ``PYTEST_ADDOPTS=--junitxml=<that file>`` so pytest writes it without being asked.
   ``$FARCASTER_JUNIT_XML`` in an argument is replaced by the same path.

``timeout`` covers setup and run together. With ``compare_with_base``, when the proposed
tree has failures, the same steps run again in a pristine copy of the base tree, so that
a test already failing there is reported as such (:func:`bot.core.verdict.judge`).

The rules:

- Commands run through the :class:`RunCommand` the runner gives (the agent's sandbox,
  with the agent's network); this module never starts a process itself.
- The JUnit file is written by code from the repository: it is read only if it is a
  regular file (never through a link), at most ``MAX_JUNIT_BYTES``.
- Every string of the verdict (test names, messages, the log) passes through the redactor
  before it leaves this module.
- A run stopped because the lease was lost raises :class:`~bot.core.errors.LeaseLost`.
"""

import os
import secrets
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import LeaseLost
from bot.core.redaction import Redactor
from bot.core.repo_config import VerifyConfig
from bot.core.verdict import MAX_JUNIT_BYTES, Verdict, VerifyRun, judge, verdict_from_json

JUNIT_VARIABLE = "FARCASTER_JUNIT_XML"
VERIFY_LOG_BYTES = 64 * 1024


class Outcome(Protocol):
    """What running one command produced (``bot.sandbox``'s ProcessOutcome has these)."""

    @property
    def exit_code(self) -> int | None: ...

    @property
    def output(self) -> str: ...  # not yet redacted

    @property
    def timed_out(self) -> bool: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def seconds(self) -> float: ...


class RunCommand(Protocol):
    """Run ``argv`` in ``checkout`` with ``env`` for at most ``timeout`` seconds."""

    def __call__(
        self, argv: Sequence[str], *, checkout: Path, env: Mapping[str, str], timeout: float
    ) -> Outcome: ...


@dataclass(frozen=True)
class JUnitFolder:
    """Where the command writes JUnit XML: a folder as the host and as the command see it.

    Each run gets a file name no one can guess beforehand, so nothing planted earlier (by
    the agent, or by the run on the other tree) is read as its result.
    """

    host: Path
    inside: str

    def new_file(self) -> tuple[Path, str]:
        name = f"farcaster-junit-{secrets.token_hex(8)}.xml"
        return self.host / name, f"{self.inside.rstrip('/')}/{name}"


def verify_proposal(
    config: VerifyConfig,
    *,
    head: Path,
    base: Path | None,
    run: RunCommand,
    junit: JUnitFolder,
    env: Mapping[str, str],
    redactor: Redactor,
) -> Verdict:
    """The verdict on ``head`` (``base``: a copy of the base tree, for the comparison)."""
    on_head = _run_tree(config, head, run, junit, env, redactor)
    on_base = None
    if base is not None and config.compare_with_base and _has_failures(on_head):
        on_base = _run_tree(config, base, run, junit, env, redactor)
    verdict = judge(on_head, on_base, must_pass=config.must_pass)
    redacted = verdict_from_json(_redact(verdict.as_json(), redactor))
    assert redacted is not None
    return redacted


def _has_failures(run: VerifyRun) -> bool:
    return run.problem is None and run.exit_code != 0


def _run_tree(
    config: VerifyConfig,
    checkout: Path,
    run: RunCommand,
    junit: JUnitFolder,
    env: Mapping[str, str],
    redactor: Redactor,
) -> VerifyRun:
    started = time.monotonic()
    junit_host, junit_inside = junit.new_file()
    full_env = {
        **env,
        JUNIT_VARIABLE: junit_inside,
        "PYTEST_ADDOPTS": f"--junitxml={junit_inside}",
    }
    log = ""
    if config.setup:
        outcome, problem = _run(run, "setup", config.setup, checkout, full_env, config.timeout)
        log = redactor.redact(outcome.output) if outcome else ""
        if problem is not None:
            return VerifyRun(None, log, time.monotonic() - started, problem=problem)
    left = max(1.0, config.timeout - (time.monotonic() - started))
    argv = [part.replace("$" + JUNIT_VARIABLE, junit_inside) for part in config.run]
    outcome, problem = _run(run, "test", argv, checkout, full_env, left)
    if outcome is not None:
        log = (log + "\n" if log else "") + redactor.redact(outcome.output)
    seconds = time.monotonic() - started
    if outcome is None or problem is not None:
        return VerifyRun(None, log, seconds, problem=problem)
    return VerifyRun(outcome.exit_code, log, seconds, junit=read_junit(junit_host))


def _run(
    run: RunCommand,
    step: str,
    argv: Sequence[str],
    checkout: Path,
    env: Mapping[str, str],
    timeout: float,
) -> tuple[Outcome | None, str | None]:
    """The outcome, and a sentence when it cannot be judged (a setup failure, a timeout)."""
    try:
        outcome = run(argv, checkout=checkout, env=env, timeout=timeout)
    except OSError as exc:
        return None, f"the {step} command {argv[0]!r} could not be started ({exc.strerror})"
    if outcome.stopped:
        raise LeaseLost("The verify step was stopped: the runner lost its lease.")
    if outcome.timed_out:
        return outcome, f"the {step} command ran past the {timeout:g} s verify timeout"
    if outcome.exit_code is None:
        return outcome, f"the {step} command did not finish"
    if step == "setup" and outcome.exit_code != 0:
        return outcome, f"the setup command exited {outcome.exit_code}"
    return outcome, None


def read_junit(path: Path) -> bytes | None:
    """The JUnit file if the command left a regular one of a sane size; never via a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_JUNIT_BYTES:
            return None
        return file.read(MAX_JUNIT_BYTES + 1)


def _redact(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {key: _redact(item, redactor) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, redactor) for item in value]
    return value
