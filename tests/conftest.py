"""Shared test configuration. Fixtures for issuers come from cognito_guard.testing's plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio (the loop the frameworks use)."""
    return "asyncio"
