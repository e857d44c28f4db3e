"""Fixtures of the integration tier (a real store on both engines; see tests/conftest.py)."""

from collections.abc import Iterator

import pytest

from bot.core.settings import Settings
from tests.integration.test_intake_support import Intake, running_intake


@pytest.fixture
def intake(settings: Settings) -> Iterator[Intake]:
    """The webhook app on a fresh store, with a fake GitHub and a clock of its own."""
    with running_intake(settings) as running:
        yield running
