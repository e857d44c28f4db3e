"""A refresh job's command is its proposal's command chain, run in order in one checkout.

``{"name": "refresh", "force": BOOL, "automatic": BOOL (a push asked), "pr_number": N,
"chain": [{"agent": A, "command": {...}}, ...]}``: the proposal's own command first, then
each landed revision's, in revision order. The runner runs every step's agent on the same
checkout and takes one diff at the end, so a refresh replays the revisions on the new base
as one commit. Any other job's command is a chain of one step.
"""

from collections.abc import Mapping, Sequence
from typing import Any

REFRESH = "refresh"


def steps(agent: str, command: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(agent name, command) of each step, in order."""
    if command.get("name") != REFRESH:
        return [(agent, dict(command))]
    return [(str(step["agent"]), dict(step["command"])) for step in command.get("chain", [])]


def refresh_command(
    chain: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    pr_number: int,
    force: bool,
    automatic: bool = False,
) -> dict[str, Any]:
    return {
        "name": REFRESH,
        "force": force,
        "automatic": automatic,
        "pr_number": pr_number,
        "chain": [{"agent": agent, "command": dict(command)} for agent, command in chain],
    }
