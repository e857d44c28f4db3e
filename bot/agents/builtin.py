"""Built-in agents run out of process, in the sandbox, under the same limits as any other.

The worker never runs rope or a regular expression over a repository in its own process:
whatever a repository makes them do (a pathological file, a catastrophic pattern), the
worker and ``farcaster serve`` stay responsive, and the attempt ends with the limit's reason
code. :class:`OutOfProcess` wraps an in-process agent (rename.py, replace.py) and runs
``python -I -m bot.agents.inside`` in ``request.sandbox``, with the command as a JSON
argument. ``-I`` keeps the checkout (the working directory) off ``sys.path``, so no
repository module can shadow ours. The child writes its result, ``{"log": ...}`` or
``{"error": {"reason_code", "message", "retryable"}}``, to :data:`RESULT_NAME` in its HOME;
a child that ends without one failed, and says why in its output.

The child knows no secret (the sandbox has none to give it); the log it returns is redacted
again here with the worker's secrets.
"""

import json
import sys
from pathlib import Path
from typing import Any

from bot.agents.base import Agent, AgentRequest, AgentResult
from bot.core.errors import LIMIT_REASONS, AgentFailed, LeaseLost
from bot.core.redaction import one_line
from bot.sandbox.bwrap import python_paths
from bot.sandbox.run import limit_reason

RESULT_NAME = ".farcaster-agent-result.json"
# Enough for a Python traceback, in the message of an agent that crashed.
CRASH_LOG_BYTES = 16 * 1024


class OutOfProcess:
    """``agent``, run in a sandboxed child process (see the module docstring)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.name = agent.name
        self.version = agent.version
        self.wants_git = agent.wants_git

    def run(self, request: AgentRequest) -> AgentResult:
        payload = {
            "agent": self.name,
            "command": dict(request.command),
            "timeout": request.limits.timeout,
            "max_log_bytes": request.limits.max_log_bytes,
        }
        result_path = request.home / RESULT_NAME
        result_path.unlink(missing_ok=True)
        outcome = request.sandbox.run(
            [sys.executable, "-I", "-m", "bot.agents.inside", json.dumps(payload)],
            checkout=request.checkout,
            home=request.home,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            limits=request.limits.resources,
            # A little over the child's own deadline, so that it can say it ran out itself.
            timeout=request.limits.timeout + 5,
            stop=request.stop,
            max_log_bytes=CRASH_LOG_BYTES,
            read_only=python_paths(),
            marker_dir=request.marker_dir,
        )
        if outcome.stopped:
            raise LeaseLost(f"The {self.name} agent was stopped: the runner lost its lease.")
        limit = limit_reason(outcome)
        if limit is not None:
            raise AgentFailed(
                f"The {self.name} agent {LIMIT_REASONS[limit]} and was stopped ({limit}).",
                reason_code=limit,
            )
        if outcome.timed_out:
            raise AgentFailed(
                f"The {self.name} agent ran past its {request.limits.timeout:g} s limit.",
                reason_code="agent_timeout",
                retryable=True,
            )
        result = _read_result(result_path)
        if result is None:
            last = [line for line in outcome.output.splitlines() if line.strip()]
            said = (
                f" Last output: {one_line(request.redactor.redact(last[-1]), 200)}" if last else ""
            )
            raise AgentFailed(
                f"The {self.name} agent ended (exit {outcome.exit_code}) without a result.{said}",
                reason_code="agent_failed",
                retryable=True,
            )
        error = result.get("error")
        if isinstance(error, dict):
            raise AgentFailed(
                request.redactor.redact(str(error.get("message", ""))),
                reason_code=str(error.get("reason_code", "agent_failed")),
                retryable=bool(error.get("retryable", False)),
            )
        log = str(result.get("log", ""))
        return AgentResult(log=request.redactor.clean(log, request.limits.max_log_bytes))


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    finally:
        path.unlink(missing_ok=True)
    return data if isinstance(data, dict) else None
