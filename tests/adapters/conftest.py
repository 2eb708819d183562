"""Fixtures shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard.testing import JWKSServer, LocalIssuer, RedisServer, generate_rsa_key
from cognito_guard.testing.pytest_plugin import redis_server_or_skip


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    """One user pool for a test module, so that one JWKS server serves all its tests."""
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def jwks(issuer: LocalIssuer) -> Iterator[JWKSServer]:
    """The module's pool's JWKS endpoint on loopback."""
    with issuer.serve() as server:
        yield server


@pytest.fixture(scope="session")
def other_issuer() -> LocalIssuer:
    """Another user pool, with keys of its own: its tokens must be rejected everywhere."""
    return LocalIssuer("eu-west-1_OtherPool9", keys=[generate_rsa_key()])


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start."""
    server = redis_server_or_skip()
    try:
        yield server
    finally:
        server.close()
