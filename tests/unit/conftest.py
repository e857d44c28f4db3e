"""The unit tier touches no database: asking for one fails the test with where it belongs."""

import pytest


@pytest.fixture
def db_url() -> str:
    pytest.fail("unit tests touch no database: this test belongs in tests/integration")
