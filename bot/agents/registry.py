"""Which agents exist: the built-ins, plus the command agents of ``FARCASTER_AGENTS_FILE``.

The agents file is read once, when the process starts (:meth:`LiveRegistry.load`): a bad
file stops ``serve`` and ``worker`` with one sentence. After that nobody reads it per job
or per webhook. It is read again only when asked (SIGHUP: :meth:`LiveRegistry.request_reload`)
or when its modification time or size changed on disk, and a new registry is validated in
full before it replaces the old one. A bad reload keeps the last good registry and logs one
sentence (once per version of the file): jobs never fail because someone saved a typo.
"""

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from bot.agents.base import Agent
from bot.agents.builtin import OutOfProcess
from bot.agents.command import CommandAgent, load_command_agents
from bot.agents.rename import RenameAgent
from bot.agents.replace import ReplaceAgent
from bot.core.errors import AgentFailed, ConfigurationError
from bot.core.settings import Settings

log = logging.getLogger(__name__)


def builtin_agents() -> dict[str, Agent]:
    """The built-ins, each run in a sandboxed child process (builtin.py)."""
    return {"rename": OutOfProcess(RenameAgent()), "replace": OutOfProcess(ReplaceAgent())}


class AgentRegistry:
    def __init__(self, agents: Mapping[str, Agent]) -> None:
        self._agents = dict(agents)

    def names(self) -> list[str]:
        return sorted(self._agents)

    def get(self, name: str) -> Agent:
        """The agent called ``name``; an unknown name is a non-retryable ``unknown_agent``."""
        agent = self._agents.get(name)
        if agent is None:
            raise AgentFailed(
                f"There is no agent called {name!r}; this installation has "
                f"{', '.join(self.names())}.",
                reason_code="unknown_agent",
            )
        return agent

    def longest_timeout(self, default: float) -> float:
        """The longest an agent (with its verify step) may run; ``default`` for the built-ins."""
        longest = default
        for agent in self._agents.values():
            if isinstance(agent, CommandAgent):
                own = agent.config.timeout or default
                verify = 2 if agent.config.verify else 1
                longest = max(longest, own * verify + 2 * agent.kill_grace)
        return longest


def load_registry(settings: Settings) -> AgentRegistry:
    """Built-ins and the operator's command agents; a command agent may not shadow a built-in."""
    agents = builtin_agents()
    if settings.agents_file is not None:
        for name, agent in load_command_agents(settings.agents_file).items():
            if name in agents:
                raise ConfigurationError(
                    f"The agents file {settings.agents_file} defines [agents.{name}], "
                    "but that name belongs to a built-in agent."
                )
            agents[name] = agent
    return AgentRegistry(agents)


def _version(path: Path | None) -> tuple[int, int] | None:
    """What tells a changed file apart cheaply: modification time and size (None: no file)."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class LiveRegistry:
    """The registry this process uses: loaded once, replaced only by a valid reload."""

    def __init__(self, settings: Settings, registry: AgentRegistry) -> None:
        self._settings = settings
        self._registry = registry
        self._seen = _version(settings.agents_file)
        self._reload_requested = threading.Event()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings) -> "LiveRegistry":
        """Read the agents file now; a bad file raises ConfigurationError (stop at start)."""
        version = _version(settings.agents_file)
        live = cls(settings, load_registry(settings))
        live._seen = version
        return live

    def request_reload(self) -> None:
        """Ask for a reload at the next use (safe from a signal handler: no I/O here)."""
        self._reload_requested.set()

    def current(self) -> AgentRegistry:
        """The registry to use now; reloads first if asked to or if the file changed."""
        version = _version(self._settings.agents_file)
        if version == self._seen and not self._reload_requested.is_set():
            return self._registry
        with self._lock:
            if version != self._seen or self._reload_requested.is_set():
                self._reload_requested.clear()
                self._seen = version
                self._reload()
            return self._registry

    def _reload(self) -> None:
        try:
            registry = load_registry(self._settings)
        except ConfigurationError as exc:
            log.warning("agents file not reloaded, the last good one stays in use: %s", exc)
            return
        self._registry = registry
        log.info("agents reloaded: %s", ", ".join(registry.names()))


def warn_about_host_network(registry: AgentRegistry) -> list[str]:
    """Log a warning (at worker start) for each agent given the host's whole network."""
    unsafe = [
        name
        for name in registry.names()
        if isinstance(agent := registry.get(name), CommandAgent) and agent.config.network == "host"
    ]
    for name in unsafe:
        log.warning(
            'agent %s has network = "host": it runs with this machine\'s whole network '
            '(UNSAFE; an allowlist such as ["pypi.org:443"] goes through the egress proxy)',
            name,
        )
    return unsafe
