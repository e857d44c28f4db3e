"""A runner process for crash tests: GitHub mocked in-process, one claim round, then exit.

    python -m tests.e2e.runner_child ARCHIVE SHA

Settings come from the FARCASTER_* environment (database, scratch dir, App key), and
FARCASTER_FAULT picks the step at which the process dies (bot/core/faults.py). Prints the
number of jobs it claimed when it survives.
"""

import os
import sys
from pathlib import Path

import respx

from bot.app.runtime import Runtime
from bot.core.records import Phase
from bot.core.settings import Settings
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job
from tests.runner_support import github_factory, mock_github
from tests.worker_round import one_round


def main(archive: Path, sha: str) -> int:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with respx.mock(assert_all_called=False) as router:
        mock_github(router, archive.read_bytes(), sha)
        runtime = Runtime.from_settings(settings, github=github_factory(settings))
        try:
            loop = WorkerLoop(
                runtime, worker_id=f"child-{os.getpid()}", handlers={Phase.RUN: run_job}
            )
            return one_round(loop)
        finally:
            runtime.close()


if __name__ == "__main__":
    print(main(Path(sys.argv[1]), sys.argv[2]))
