"""Named fault points: with ``FARCASTER_FAULT=<point>`` the process dies there, like ``kill -9``.

Crash tests set the variable on a real subprocess and then count what reached GitHub.
``os._exit`` skips ``finally`` blocks, atexit hooks and buffered writes, which is the point:
nothing gets a chance to tidy up. ``FARCASTER_FAULT=<point>:stop`` instead stops the whole
process there with SIGSTOP, as a paused VM or a debugger would, the first time it gets
there; a test resumes it with SIGCONT after its lease has run out. Inert when the variable
is unset.
"""

import os
import signal

RUNNER_POINTS = ("after_claim", "after_snapshot", "after_agent", "after_proposal")
INTERPRETER_POINTS = (
    "after_tree_chunk",
    "after_commit",
    "after_ref",
    "after_pr",
    "after_check_run",
    "after_comment",
)
ALL_POINTS = RUNNER_POINTS + INTERPRETER_POINTS

# The exit status a process killed at a fault point reports; tests check it.
FAULT_EXIT_STATUS = 137


def fault_point(name: str) -> None:
    """Die abruptly if ``FARCASTER_FAULT`` names this point."""
    if name not in ALL_POINTS:
        raise ValueError(f"unknown fault point {name!r}")
    wanted = os.environ.get("FARCASTER_FAULT")
    if wanted == name:
        os._exit(FAULT_EXIT_STATUS)
    if wanted == f"{name}:stop":
        os.environ.pop("FARCASTER_FAULT")  # once: the resumed process runs on
        os.kill(os.getpid(), signal.SIGSTOP)
