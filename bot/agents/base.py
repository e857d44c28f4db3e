"""The agent contract: a working tree in, a changed working tree and a log out.

An agent receives an :class:`AgentRequest`: the checkout to change, the job's command, its
limits, the :class:`~bot.sandbox.run.Sandbox` to run programs in, and a ``stop`` event (set
when the runner's lease is lost; the agent must stop promptly and raise
:class:`~bot.core.errors.LeaseLost`). It returns an :class:`AgentResult`
holding a log that is already bounded and redacted (tests are the runner's verify step, run
after the diff is taken: bot/worker/verify.py). It never returns a diff: the runner computes
the diff itself, with git, from the working tree. Agents hold no credentials and touch
nothing outside the checkout: every program an agent starts, built-in agents included, runs
through ``request.sandbox``.

Failures are :class:`~bot.core.errors.AgentFailed` with a ``reason_code`` and a sentence for the
maintainer; ``retryable`` says whether another attempt could do better (a timeout might, an
unknown symbol will not).
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.core.errors import AgentFailed, LeaseLost
from bot.core.redaction import Redactor
from bot.sandbox.limits import Limits
from bot.sandbox.proxy import BlockedLog
from bot.sandbox.run import Sandbox

DEFAULT_MAX_LOG_BYTES = 64 * 1024


@dataclass(frozen=True)
class AgentLimits:
    timeout: float
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES
    resources: Limits = field(default_factory=Limits)  # the server's defaults (settings)


@dataclass(frozen=True)
class AgentRequest:
    checkout: Path  # the working tree to change
    command: Mapping[str, Any]  # the job's command (see the JSON contract in the preamble)
    limits: AgentLimits
    stop: threading.Event  # set when the lease is lost: stop now, raise LeaseLost
    home: Path  # a scratch folder the agent may use as HOME; removed with the checkout
    redactor: Redactor = field(default_factory=Redactor)
    # The worker passes its configured sandbox; the default (no sandbox) is for unit tests.
    sandbox: Sandbox = field(default_factory=Sandbox)
    marker_dir: Path | None = None  # where a restarted worker looks for leftovers
    # Connections the egress proxy refused while the agent ran (the runner makes them events).
    egress: BlockedLog = field(default_factory=BlockedLog)

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise LeaseLost("The agent was stopped: the runner lost its lease.")


@dataclass(frozen=True)
class AgentResult:
    log: str  # bounded and redacted


class Agent(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def wants_git(self) -> bool:
        """Whether its tools expect ``checkout/.git`` (a copy of the base repository)."""
        ...

    def run(self, request: AgentRequest) -> AgentResult: ...


def command_text(command: Mapping[str, Any], key: str) -> str:
    """A required string field of the command, or a non-retryable ``bad_instruction``."""
    value = command.get(key)
    if not isinstance(value, str) or not value:
        raise AgentFailed(
            f"The command has no {key!r}: say what to do, e.g. `/farcaster help`.",
            reason_code="bad_instruction",
        )
    return value


def command_paths(command: Mapping[str, Any]) -> list[str]:
    """The command's ``paths`` globs; empty means every file."""
    paths = command.get("paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise AgentFailed(
            "The command's paths must be a list of globs.", reason_code="bad_instruction"
        )
    return list(paths)
