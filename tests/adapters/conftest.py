"""Fixtures shared by the adapter tests."""

from __future__ import annotations

import pytest

from cognito_guard.testing import LocalIssuer, generate_rsa_key


@pytest.fixture(scope="session")
def other_issuer() -> LocalIssuer:
    """Another user pool, with keys of its own: its tokens must be rejected everywhere."""
    return LocalIssuer("eu-west-1_OtherPool9", keys=[generate_rsa_key()])
