"""Which agents exist: the built-ins, plus the command agents of ``FARCASTER_AGENTS_FILE``."""

from collections.abc import Mapping

from bot.agents.base import Agent
from bot.agents.builtin import OutOfProcess
from bot.agents.command import load_command_agents
from bot.agents.rename import RenameAgent
from bot.agents.replace import ReplaceAgent
from bot.core.errors import AgentFailed, ConfigurationError
from bot.core.settings import Settings


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


def longest_timeout(settings: Settings) -> float:
    """The longest an agent (with its verify step) may run, for the attempt's time budget."""
    longest = settings.agent_timeout_seconds
    if settings.agents_file is not None:
        for agent in load_command_agents(settings.agents_file).values():
            own = agent.config.timeout or settings.agent_timeout_seconds
            longest = max(longest, own * (2 if agent.config.verify else 1) + 2 * agent.kill_grace)
    return longest
