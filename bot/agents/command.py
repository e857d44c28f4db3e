"""Command agents: programs an operator lists in ``FARCASTER_AGENTS_FILE`` (TOML).

::

    [agents.coder]
    argv = ["coder", "--yes", "--message={instruction}"]  # no shell, ever
    timeout = 600                # seconds; default FARCASTER_AGENT_TIMEOUT_SECONDS
    max_output_bytes = 262144    # log kept (head and tail), after redaction
    env = ["ANTHROPIC_API_KEY"]  # variables passed through, by name, from the worker
    verify = ["python", "-m", "pytest", "-q"]   # optional: tests run after the diff is taken
    verify_must_pass = true      # failing tests stop the job (verify_failed); false: a draft PR
    final_exit_codes = [2]       # exit codes that mean "retrying will not help"
    network = "none"             # the default: no network at all
    # network = ["pypi.org:443"]   # only these host:port pairs, through the egress proxy
    # network = "host"             # UNSAFE: the host's whole network (a warning at start)
    read_only = ["/opt/coder"]   # host paths the program needs, bound read-only
    [agents.coder.limits]        # each optional; defaults come from FARCASTER_AGENT_*
    cpu_seconds = 600
    memory_bytes = 4294967296
    processes = 1024
    file_bytes = 1073741824
    disk_bytes = 2147483648      # how much the checkout and HOME may grow
    tmp_bytes = 536870912
    output_bytes = 67108864

``{instruction}`` in any argv element is replaced by the job's instruction (``/farcaster run
coder <instruction>``); ``{path}`` and ``{line}`` by the file and line of the inline review
comment that asked for a revision (empty otherwise). The program runs in the sandbox
(bot/sandbox), in the checkout, with a scrubbed environment: PATH, HOME (a folder in the
scratch directory), LANG, and the variables ``env`` names; nothing else. ``/usr`` and the
Python Farcaster runs on are visible read-only; other tools must be named in ``read_only``.
Names that hold Farcaster's or GitHub's credentials are refused in the file, and a passed value
that looks like a secret is dropped. Exit 0 is success; an exit code in ``final_exit_codes`` is
a non-retryable failure, any other a retryable one; running past the timeout is a retryable
``agent_timeout``; hitting a limit is that limit's reason code (``agent_cpu_limit``,
``agent_disk_limit``...), not retried.
"""

import contextlib
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.agents.base import AgentRequest, AgentResult, command_text
from bot.core.errors import LIMIT_REASONS, AgentFailed, ConfigurationError, LeaseLost
from bot.core.redaction import Redactor, one_line
from bot.core.repo_config import MAX_VERIFY_SECONDS, VerifyConfig
from bot.sandbox.bwrap import Network, python_paths
from bot.sandbox.egress import NetworkSetting, check_network, egress, sandbox_network
from bot.sandbox.limits import Limits
from bot.sandbox.process import ProcessOutcome
from bot.sandbox.run import limit_reason, start_failure

PLACEHOLDER = "{instruction}"
PATH_PLACEHOLDER = "{path}"  # an inline review comment's file (revisions only)
LINE_PLACEHOLDER = "{line}"  # ... and its line
# Credentials that must never reach an agent, whatever the file says.
FORBIDDEN_NAMES = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "DATABASE_URL",
        "PGPASSWORD",
    }
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _expand(part: str, instruction: str, command: Mapping[str, object]) -> str:
    """One argv element with its placeholders filled (``{path}``/``{line}``: empty unless
    the command came from an inline review comment)."""
    path, line = command.get("path"), command.get("line")
    return (
        part.replace(PLACEHOLDER, instruction)
        .replace(PATH_PLACEHOLDER, str(path) if isinstance(path, str) else "")
        .replace(LINE_PLACEHOLDER, str(line) if isinstance(line, int) else "")
    )


class LimitsConfig(BaseModel):
    """``[agents.NAME.limits]``: each field overrides the server's default for this agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_seconds: int | None = Field(default=None, gt=0)
    memory_bytes: int | None = Field(default=None, gt=0)
    processes: int | None = Field(default=None, gt=0)
    file_bytes: int | None = Field(default=None, gt=0)
    disk_bytes: int | None = Field(default=None, gt=0)
    tmp_bytes: int | None = Field(default=None, gt=0)
    output_bytes: int | None = Field(default=None, gt=0)


class CommandAgentConfig(BaseModel):
    """One ``[agents.NAME]`` table. Unknown keys are refused, so a typo is not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: list[str] = Field(min_length=1)
    timeout: float | None = Field(default=None, gt=0)
    max_output_bytes: int | None = Field(default=None, ge=1024)
    env: list[str] = Field(default_factory=list)
    verify: list[str] | None = Field(default=None, min_length=1)
    verify_must_pass: bool = False
    final_exit_codes: list[int] = Field(default_factory=list)
    version: str | None = None
    wants_git: bool = True
    network: NetworkSetting = "none"
    read_only: list[str] = Field(default_factory=list)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @field_validator("read_only")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or ".." in Path(path).parts:
                raise ValueError(f"{path!r} must be an absolute path without '..'")
        return paths

    _network = field_validator("network")(check_network)

    @field_validator("env")
    @classmethod
    def _no_credentials(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if name.upper().startswith("FARCASTER_") or name.upper() in FORBIDDEN_NAMES:
                raise ValueError(f"{name} holds Farcaster's or GitHub's credentials")
        return names


def scrubbed_env(
    home: Path, names: Sequence[str], source: Mapping[str, str], redactor: Redactor
) -> dict[str, str]:
    """The whole environment an agent gets: PATH, HOME, LANG and the named variables."""
    env = {
        "PATH": source.get("PATH", os.defpath),
        "HOME": str(home),
        "LANG": source.get("LANG", "C.UTF-8"),
    }
    for name in names:
        value = source.get(name)
        # A value the redactor would change is, or contains, a secret: it stays behind.
        if value is not None and redactor.redact(value) == value:
            env[name] = value
    return env


class CommandAgent:
    def __init__(self, name: str, config: CommandAgentConfig, *, kill_grace: float = 2.0) -> None:
        self.name = name
        self.config = config
        self.wants_git = config.wants_git
        self.kill_grace = kill_grace
        fingerprint = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]
        self.version = config.version or f"config-{fingerprint}"

    def run(self, request: AgentRequest) -> AgentResult:
        instruction = command_text(request.command, "instruction")
        if "\0" in instruction:
            raise AgentFailed("The instruction contains a NUL byte.", reason_code="bad_instruction")
        argv = [_expand(part, instruction, request.command) for part in self.config.argv]
        outcome = self._run(argv, request, self._log_bytes(request))
        log = request.redactor.clean(
            outcome.output, self._log_bytes(request), total_bytes=outcome.output_bytes
        )
        self._judge(outcome, log, self._timeout(request))
        return AgentResult(log=log)

    def verify_config(self, default_timeout: float) -> VerifyConfig | None:
        """``verify`` as a repository's ``verify`` section would say it: the runner runs it
        after taking the diff (bot/worker/verify.py), on this agent's network."""
        if self.config.verify is None:
            return None
        timeout = min(MAX_VERIFY_SECONDS, self.config.timeout or default_timeout)
        return VerifyConfig(
            run=list(self.config.verify), must_pass=self.config.verify_must_pass, timeout=timeout
        )

    def _log_bytes(self, request: AgentRequest) -> int:
        return self.config.max_output_bytes or request.limits.max_log_bytes

    def _timeout(self, request: AgentRequest) -> float:
        return self.config.timeout or request.limits.timeout

    def _run(self, argv: list[str], request: AgentRequest, log_bytes: int) -> ProcessOutcome:
        env = scrubbed_env(request.home, self.config.env, os.environ, request.redactor)
        limits = request.limits.resources.merged(self.config.limits.model_dump())
        read_only = (*python_paths(), *(Path(p) for p in self.config.read_only))
        with contextlib.ExitStack() as stack:
            network, wrapped = self._network(stack, request, argv)
            return self._sandboxed(
                wrapped, argv[0], request, log_bytes, env, limits, network, read_only
            )

    def _network(
        self, stack: contextlib.ExitStack, request: AgentRequest, argv: list[str]
    ) -> tuple[Network, list[str]]:
        """The sandbox's network, and ``argv`` behind the forwarder for an allowlist."""
        setting = self.config.network
        running = stack.enter_context(
            egress(setting, request.egress, sandboxed=request.sandbox.enabled)
        )
        wrapped = running.wrap(argv) if running is not None else argv
        return sandbox_network(setting, running), wrapped

    def _sandboxed(
        self,
        argv: list[str],
        program: str,
        request: AgentRequest,
        log_bytes: int,
        env: dict[str, str],
        limits: Limits,
        network: Network,
        read_only: tuple[Path, ...],
    ) -> ProcessOutcome:
        try:
            outcome = request.sandbox.run(
                argv,
                checkout=request.checkout,
                home=request.home,
                env=env,
                limits=limits,
                timeout=self._timeout(request),
                stop=request.stop,
                max_log_bytes=log_bytes,
                kill_grace=self.kill_grace,
                network=network,
                read_only=read_only,
                marker_dir=request.marker_dir,
            )
        except OSError as exc:
            raise AgentFailed(
                f"The agent {self.name!r} cannot start {program!r}: {exc.strerror}.",
                reason_code="agent_unavailable",
            ) from None
        if outcome.stopped:
            raise LeaseLost(f"The agent {self.name!r} was stopped: the runner lost its lease.")
        problem = start_failure(outcome)
        if problem is not None:
            raise AgentFailed(
                f"The agent {self.name!r} cannot start {program!r}: {problem}.",
                reason_code="agent_unavailable",
            )
        return outcome

    def _judge(self, outcome: ProcessOutcome, log: str, timeout: float) -> None:
        last = _last_line(log)
        limit = limit_reason(outcome)
        if limit is not None:
            raise AgentFailed(
                f"The agent {self.name!r} {LIMIT_REASONS[limit]} and was stopped "
                f"({limit}; {outcome.output_bytes} bytes of output).{last}",
                reason_code=limit,
            )
        if outcome.timed_out:
            raise AgentFailed(
                f"The agent {self.name!r} ran past its {timeout:g} s timeout and was stopped."
                f"{last}",
                reason_code="agent_timeout",
                retryable=True,
            )
        code = outcome.exit_code
        if code == 0:
            return
        final = code in self.config.final_exit_codes
        raise AgentFailed(
            f"The agent {self.name!r} exited with status {code}"
            f"{' (final: it will not be retried)' if final else ''}.{last}",
            reason_code="agent_failed",
            retryable=not final,
        )


def _last_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    return f" Last output: {one_line(lines[-1], 200)}" if lines else ""


def load_command_agents(path: Path) -> dict[str, CommandAgent]:
    """The ``[agents.NAME]`` tables of ``path``; a clear ConfigurationError when it is wrong."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigurationError(
            f"FARCASTER_AGENTS_FILE points at {path}, which cannot be read ({exc.strerror})."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"The agents file {path} is not valid TOML: {exc}.") from None
    tables = data.get("agents", {})
    unknown = sorted(set(data) - {"agents"})
    if unknown or not isinstance(tables, dict):
        raise ConfigurationError(
            f"The agents file {path} may only hold [agents.NAME] tables (found {unknown})."
        )
    agents = {}
    for name, table in tables.items():
        try:
            agents[name] = CommandAgent(name, CommandAgentConfig.model_validate(table))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "table"
            raise ConfigurationError(
                f"The agents file {path}: [agents.{name}] {where}: {first['msg']}."
            ) from None
    return agents
