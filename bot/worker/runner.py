"""The run handler: a leased job becomes a stored proposal.

::

    claimed ──▶ snapshot (tarball at the base SHA, unpacked safely, committed in scratch)
            ──▶ agent (changes the working tree, in the sandbox: no credentials, nothing of
                the machine but the checkout and its own HOME, bounded time, resources, log)
            ──▶ diff (git, against the recorded base commit, whatever the agent did to git)
            ──▶ secret scan (a diff adding a secret is refused: ``secret_in_diff``)
            ──▶ verify (the repository's tests, if its farcaster.yml asks; worker/verify.py)
            ──▶ store_proposal (fenced; the proposal and the phase change in one transaction)

``guard.check()`` runs between steps, so a lost lease or a spent time budget stops the
attempt before it writes. An empty diff is a non-retryable ``empty_diff``; a full scratch
disk is ``agent_disk_limit``. The agent and the verify step run in the sandbox
(bot/sandbox), with a HOME of their own (not the one our git runs with). The scratch
directory is removed whatever happens; one left by a process that died (``kill -9``, a
fault point) is swept when the next worker on that host starts, after the agents it names
as still running (bot/sandbox/leftovers.py) are ended. Fault points ``after_claim``,
``after_snapshot``, ``after_agent`` and ``after_proposal`` let crash tests kill the runner
between any two steps.
"""

import dataclasses
import errno
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.agents.base import DEFAULT_MAX_LOG_BYTES, Agent, AgentLimits, AgentRequest, AgentResult
from bot.agents.command import CommandAgent, scrubbed_env
from bot.agents.registry import AgentRegistry
from bot.core import chain
from bot.core.errors import LIMIT_REASONS, AgentFailed, LeaseLost, Refusal
from bot.core.faults import fault_point
from bot.core.permissions import Permission, at_least
from bot.core.records import Job, Lease, NewProposal
from bot.core.redaction import Redactor
from bot.core.repo_config import (
    CONFIG_PATH,
    RepoConfig,
    VerifyConfig,
    cap_repo_config,
    parse_repo_config,
)
from bot.core.secret_scan import refuse_secrets
from bot.core.settings import Settings
from bot.core.verdict import Verdict
from bot.core.vocab import EventKind
from bot.github.client import GitHubClient
from bot.observe.metrics import observe_agent_duration
from bot.sandbox.bwrap import HOME, Network, python_paths
from bot.sandbox.egress import NetworkSetting, combined, egress, sandbox_network
from bot.sandbox.leftovers import end_leftovers, process_alive
from bot.sandbox.process import ProcessOutcome
from bot.sandbox.proxy import BlockedLog, sweep_abandoned_sockets
from bot.sandbox.run import start_failure
from bot.sandbox.startup import configured_limits, configured_sandbox
from bot.worker.checkout import (
    Snapshot,
    diff_against_base,
    give_agent_a_repository,
    remove_tree,
    take_snapshot,
)
from bot.worker.leases import LeaseGuard
from bot.worker.services import Services
from bot.worker.verify import VERIFY_LOG_BYTES, JUnitFolder, verify_proposal

# Downloading, unpacking, committing and diffing, on top of the agent's own time.
SNAPSHOT_MARGIN_SECONDS = 120.0
_SCRATCH_PREFIX = "farcaster-"
_SCRATCH_NAME = re.compile(r"farcaster-(?P<host>[^~]+)~(?P<pid>\d+)~")


def run_job(runtime: Services, lease: Lease, guard: LeaseGuard) -> None:
    """Turn the leased job into a proposal, or raise the error that ends this attempt."""
    fault_point("after_claim")
    job = lease.job
    settings = runtime.settings
    registry = runtime.agents.current()
    agent = registry.get(job.agent)
    client = runtime.github(_installation(job))
    base_sha = _base_sha(runtime, job, client)
    redactor = Redactor(settings.secret_values())
    secrets = _secrets(settings, agent)
    root = _scratch_dir(settings, job, lease.token)
    blocked = BlockedLog()
    try:
        guard.check()
        snapshot = take_snapshot(client, job.owner, job.name, base_sha, root)
        config = repo_config_at(snapshot.work, set(registry.names()))
        check_agent_enabled(config, job.agent)
        check_requester_permission(config, job, client)
        verify_config = config.verify or _agent_verify(agent, settings)
        base_copy = _copy_base(snapshot.work, root, verify_config)
        if agent.wants_git:
            give_agent_a_repository(snapshot)
        fault_point("after_snapshot")
        guard.check()
        agent_home = root / "agent-home"  # not snapshot.home, which our git runs with
        agent_home.mkdir()
        request = AgentRequest(
            checkout=snapshot.work,
            command=job.command,
            limits=AgentLimits(
                settings.agent_timeout_seconds, DEFAULT_MAX_LOG_BYTES, configured_limits(settings)
            ),
            stop=guard.lost,
            home=agent_home,
            redactor=redactor,
            sandbox=configured_sandbox(settings),
            marker_dir=root,
            egress=blocked,
        )
        with _timed(agent.name) as outcome:
            # A refresh replays its proposal's command chain in this one checkout.
            for name, command in chain.steps(job.agent, job.command):
                step = dataclasses.replace(request, command=command)
                result = _run_agent(registry.get(name), step, Redactor(_values(secrets)))
                guard.check()
            fault_point("after_agent")
            diff = _diff_text(diff_against_base(snapshot), settings.max_diff_bytes)
            outcome.append("proposed")
        refuse_secrets(diff, secrets)
        verdict = None
        if verify_config is not None:
            guard.check()
            verdict = _verify(
                settings, verify_config, snapshot, base_copy, request, agent
            ).as_json()
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise AgentFailed(
            f"The scratch disk is full ({settings.scratch_dir or tempfile.gettempdir()}).",
            reason_code="agent_disk_limit",
            retryable=True,
        ) from None
    finally:
        end_leftovers(root)
        remove_tree(root)
        _note_blocked(runtime, job.id, guard.token, blocked)
    guard.check()
    proposal = _proposal(agent, base_sha, diff, result, Redactor(_values(secrets)), verdict)
    runtime.store.store_proposal(job.id, guard.token, proposal)
    fault_point("after_proposal")


def _run_agent(agent: Agent, request: AgentRequest, redactor: Redactor) -> AgentResult:
    """The agent's run. A failure quotes what the agent printed last, so its message is
    redacted of the values passed to the agent too (the worker loop knows the server's)."""
    try:
        return agent.run(request)
    except AgentFailed as exc:
        exc.message = redactor.redact(exc.message)
        exc.args = (exc.message,)
        raise


def _note_blocked(runtime: Services, job_id: str, token: int, blocked: BlockedLog) -> None:
    """One ``egress_blocked`` event per target the egress proxy refused in this attempt
    (failed or not: the report and check run list them)."""
    for refused, count in blocked.counted():
        message = refused.sentence() + (f", {count} times" if count > 1 else "")
        data = {"target": refused.target, "reason": refused.reason, "count": count}
        runtime.store.note(
            job_id, EventKind.EGRESS_BLOCKED, {**data, "message": message}, token=token
        )
    if blocked.dropped:
        message = f"blocked: {blocked.dropped} more connections to other targets"
        data = {"target": "(more)", "count": blocked.dropped, "message": message}
        runtime.store.note(job_id, EventKind.EGRESS_BLOCKED, data, token=token)


def _secrets(settings: Settings, agent: Agent) -> dict[str, list[str]]:
    """What neither the diff nor the stored log may hold: the server's secrets, and the
    values of the variables passed to the agent by name (installation tokens are caught by
    their ``ghs_`` shape). The agent's own redactor leaves the latter out: it must be
    able to pass them."""
    secrets = settings.secret_values_by_kind()
    if isinstance(agent, CommandAgent):
        passed = [os.environ.get(name, "") for name in agent.config.env]
        secrets["agent_variable"] = [value for value in passed if value]
    return secrets


def _values(secrets: dict[str, list[str]]) -> list[str]:
    return [value for values in secrets.values() for value in values]


def repo_config_at(checkout: Path, server_agents: set[str]) -> RepoConfig:
    """The repository's ``.github/farcaster.yml`` in the snapshot, capped by the server.

    Read before the agent runs: a repository that turned a command agent off must not have
    it run at all. (The interpreter re-reads the file from the git tree for its path rules;
    a file hidden by ``export-ignore`` means the defaults here.)
    """
    path = checkout / CONFIG_PATH
    if not path.is_file() or path.is_symlink():
        return cap_repo_config(RepoConfig(), server_agents)
    return cap_repo_config(parse_repo_config(path.read_text(errors="replace")), server_agents)


def check_agent_enabled(config: RepoConfig, agent: str) -> None:
    if config.agents is not None and agent not in config.agents:
        enabled = ", ".join(config.agents) or "none"
        raise AgentFailed(
            f"{CONFIG_PATH} does not enable the {agent} agent in this repository "
            f"(enabled: {enabled}).",
            reason_code="agent_not_enabled",
        )


def check_requester_permission(config: RepoConfig, job: Job, client: GitHubClient) -> None:
    """Intake lets writers in; a repository may ask for more (``permission.minimum``)."""
    minimum = config.permission.minimum
    if minimum == "write" or job.requester is None:
        return
    held = client.collaborator_permission(job.owner, job.name, job.requester)
    if not at_least(held, Permission(minimum)):
        raise AgentFailed(
            f"@{job.requester} has {held} permission, and {CONFIG_PATH} asks for at least "
            f"{minimum} to run Farcaster here.",
            reason_code="permission_denied",
        )


def _copy_base(work: Path, root: Path, verify: VerifyConfig | None) -> Path | None:
    """A pristine copy of the base tree, for running the tests on the base too."""
    if verify is None or not verify.compare_with_base:
        return None
    base = root / "base-tree"
    shutil.copytree(work, base, symlinks=True)
    return base


def _agent_verify(agent: Agent, settings: Settings) -> VerifyConfig | None:
    """A command agent's own ``verify`` (agents file), used when the repository has none."""
    if isinstance(agent, CommandAgent):
        return agent.verify_config(settings.agent_timeout_seconds)
    return None


def _verify(
    settings: Settings,
    config: VerifyConfig,
    snapshot: Snapshot,
    base_copy: Path | None,
    request: AgentRequest,
    agent: Agent,
) -> Verdict:
    """The repository's tests on the proposed tree (after the diff was taken), in the
    sandbox, with the network and the read-only paths of a command agent (none for the
    built-ins), and whatever FARCASTER_VERIFY_NETWORK allows every verify step."""
    network: NetworkSetting = "none"
    read_only = python_paths()
    if isinstance(agent, CommandAgent):
        network = agent.config.network
        read_only = (*read_only, *(Path(p) for p in agent.config.read_only))
    network = combined(network, settings.verify_network)
    with egress(network, request.egress, sandboxed=request.sandbox.enabled) as running:
        return _verify_on(
            settings,
            config,
            snapshot,
            base_copy,
            request,
            sandbox_network(network, running),
            running.wrap if running is not None else list,
            read_only,
        )


def _verify_on(
    settings: Settings,
    config: VerifyConfig,
    snapshot: Snapshot,
    base_copy: Path | None,
    request: AgentRequest,
    network: Network,
    wrap: Callable[[Sequence[str]], list[str]],
    read_only: tuple[Path, ...],
) -> Verdict:
    timeout = min(config.timeout, settings.verify_timeout_seconds)
    env = scrubbed_env(request.home, [], os.environ, request.redactor)
    # Where the tests see HOME: bound at a fixed path inside the sandbox.
    home_inside = HOME if request.sandbox.enabled else str(request.home)

    def run(
        argv: Sequence[str], *, checkout: Path, env: Mapping[str, str], timeout: float
    ) -> ProcessOutcome:
        # The repository's own code: the same sandbox and limits as the agent.
        outcome = request.sandbox.run(
            wrap(argv),
            checkout=checkout,
            home=request.home,
            env=env,
            limits=request.limits.resources,
            timeout=timeout,
            stop=request.stop,
            max_log_bytes=VERIFY_LOG_BYTES,
            network=network,
            read_only=read_only,
            marker_dir=request.marker_dir,
        )
        problem = start_failure(outcome)
        if problem is not None:  # not found, not executable: nothing was tested
            raise FileNotFoundError(errno.ENOENT, problem)
        return outcome

    return verify_proposal(
        config.model_copy(update={"timeout": timeout}),
        head=snapshot.work,
        base=base_copy,
        run=run,
        junit=JUnitFolder(request.home, home_inside),
        env=env,
        redactor=request.redactor,
    )


def _proposal(
    agent: Agent,
    base_sha: str,
    diff: str,
    result: AgentResult,
    redactor: Redactor,
    verdict: dict[str, Any] | None = None,
) -> NewProposal:
    """What is stored: the diff as git computed it, and the agent's words redacted again.

    With it, the verify verdict: of the repository's ``verify``, else of the agent's own."""
    verify = dict(verdict) if verdict is not None else None
    if verify is not None and isinstance(verify.get("log"), str):
        verify["log"] = redactor.redact(verify["log"])
    return NewProposal(
        base_sha=base_sha,
        diff=diff,
        agent=agent.name,
        agent_version=agent.version,
        agent_log=redactor.clean(result.log, DEFAULT_MAX_LOG_BYTES),
        verify=verify,
    )


# How each way an agent run can end shows in farcaster_agent_duration_seconds{outcome}.
_OUTCOMES = {"agent_timeout": "timeout", "empty_diff": "no_change"} | {
    code: "limit" for code in LIMIT_REASONS
}


@contextmanager
def _timed(agent: str) -> Iterator[list[str]]:
    """Time the block for the agent metrics; the block appends its outcome on success."""
    started = time.monotonic()
    outcome: list[str] = []
    try:
        yield outcome
    except LeaseLost:
        outcome.append("stopped")
        raise
    except AgentFailed as exc:
        outcome.append(_OUTCOMES.get(exc.reason_code, "failed"))
        raise
    except Exception:  # counted as an error in the metrics, then raised as it was
        outcome.append("error")
        raise
    finally:
        observe_agent_duration(
            agent, time.monotonic() - started, outcome[-1] if outcome else "error"
        )


def run_budget_seconds(settings: Settings, agents: AgentRegistry) -> float:
    """The time budget of one run attempt: the longest agent, the repository's tests on
    both trees, and the snapshot's margin."""
    verify = 2 * settings.verify_timeout_seconds
    return agents.longest_timeout(settings.agent_timeout_seconds) + verify + SNAPSHOT_MARGIN_SECONDS


def _installation(job: Job) -> int:
    if job.installation_id is None:
        raise Refusal(
            f"Job {job.id} has no GitHub App installation to read {job.repo} with.",
            reason_code="no_installation",
        )
    return job.installation_id


def _base_sha(runtime: Services, job: Job, client: GitHubClient) -> str:
    """The recorded base commit; a job recorded without one runs on its branch's head."""
    if job.base_sha:
        return job.base_sha
    branch = job.base_ref or str(client.get_repo(job.owner, job.name)["default_branch"])
    sha = client.branch_head(job.owner, job.name, branch)
    runtime.store.note(job.id, EventKind.BASE_RESOLVED, {"base_ref": branch, "base_sha": sha})
    return sha


def _diff_text(diff: bytes, max_bytes: int) -> str:
    if not diff.strip():
        raise AgentFailed("The agent changed nothing.", reason_code="empty_diff")
    if len(diff) > max_bytes:
        raise AgentFailed(
            f"The agent's change is a {len(diff)}-byte diff, over the limit of {max_bytes} "
            "bytes (FARCASTER_MAX_DIFF_BYTES).",
            reason_code="diff_too_large",
        )
    try:
        return diff.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentFailed(
            f"The agent's change holds text that is not UTF-8 (at byte {exc.start} of the diff).",
            reason_code="diff_not_utf8",
        ) from None


def _scratch_dir(settings: Settings, job: Job, token: int) -> Path:
    """A fresh folder for this attempt, named so that :func:`sweep_abandoned_scratch` can
    tell whether the process that made it is still alive."""
    parent = settings.scratch_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace("~", "-") or "host"
    prefix = f"{_SCRATCH_PREFIX}{host}~{os.getpid()}~{job.id}-t{token}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def sweep_abandoned_scratch(settings: Settings) -> list[Path]:
    """Remove scratch folders left on this host by runner processes that no longer live,
    ending first any agent they name as running (returned), and the socket folders of their
    egress proxies."""
    parent = settings.scratch_dir or Path(tempfile.gettempdir())
    if not parent.is_dir():
        return []
    host = socket.gethostname().replace("~", "-") or "host"
    removed = []
    for entry in parent.iterdir():
        found = _SCRATCH_NAME.match(entry.name)
        if found is None or found["host"] != host or not entry.is_dir():
            continue
        if not process_alive(int(found["pid"])):
            end_leftovers(entry)
            remove_tree(entry)
            removed.append(entry)
    sweep_abandoned_sockets()  # an egress proxy dies with its worker; its folder stays
    return removed
