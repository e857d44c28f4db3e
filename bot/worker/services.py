"""What the worker's handlers are given: the shared objects they use, not the container.

The run and apply handlers and the outbox handlers receive a :class:`Services`; the
process's ``Runtime`` (bot/app/runtime.py) is one, and a test may pass any object with
these members. Defined here, below everything that consumes it, so that no handler
imports the composition layer.
"""

from typing import Protocol

from bot.agents.registry import LiveRegistry
from bot.core.errors import ConfigurationError
from bot.core.records import Job
from bot.core.settings import Settings
from bot.github.client import GitHubClient
from bot.store import Store
from bot.store.outbox import Outbox


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def agents(self) -> LiveRegistry: ...

    def github(self, installation_id: int, /) -> GitHubClient: ...


def github_for(services: Services, job: Job) -> GitHubClient:
    """The GitHub client of the job's installation; a job without one cannot act."""
    if job.installation_id is None:
        raise ConfigurationError(f"Job {job.id} has no GitHub App installation to act through.")
    return services.github(job.installation_id)
