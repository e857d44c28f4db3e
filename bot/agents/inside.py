"""The process a built-in agent runs in, inside the sandbox (``python -I -m bot.agents.inside``).

Its one argument is the JSON request builtin.py sends: ``{"agent", "command", "timeout",
"max_log_bytes"}``. It runs the in-process agent on the working directory (the checkout)
and writes the result to ``$HOME/`` :data:`~bot.agents.builtin.RESULT_NAME`: ``{"log": ...}``,
or ``{"error": {...}}`` for an :class:`~bot.core.errors.AgentFailed`. Anything else it
raises is a crash: the traceback goes to its output, and no result file is written.
"""

import json
import os
import sys
import threading
from pathlib import Path

from bot.agents.base import Agent, AgentLimits, AgentRequest
from bot.agents.builtin import RESULT_NAME
from bot.agents.rename import RenameAgent
from bot.agents.replace import ReplaceAgent
from bot.core.errors import AgentFailed

IN_PROCESS: dict[str, type[Agent]] = {"rename": RenameAgent, "replace": ReplaceAgent}


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    agent = IN_PROCESS[request["agent"]]()
    home = Path(os.environ["HOME"])
    inner = AgentRequest(
        checkout=Path.cwd(),
        command=request["command"],
        limits=AgentLimits(float(request["timeout"]), int(request["max_log_bytes"])),
        stop=threading.Event(),  # the worker stops this process from outside
        home=home,
    )
    try:
        result: dict[str, object] = {"log": agent.run(inner).log}
    except AgentFailed as exc:
        result = {
            "error": {
                "reason_code": exc.reason_code,
                "message": exc.message,
                "retryable": exc.retryable,
            }
        }
    (home / RESULT_NAME).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
