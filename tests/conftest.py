"""Shared test configuration. Fixtures for issuers come from cognito_guard.testing's plugin."""

from __future__ import annotations

import pytest

from cognito_guard.testing import ManualClock


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio (the loop the frameworks use)."""
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at 2027-01-15 until the test moves it."""
    return ManualClock()
