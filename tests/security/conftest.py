"""Fixtures of the security suite: two user pools, an attacker's keys and a frozen clock."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard.testing import LocalIssuer
from cognito_guard.testing.issuer import SigningKey, generate_rsa_key

from ._helpers import CLIENT_ID, ISSUER, NOW, POOL_ID, World


def _clock() -> float:
    return float(NOW)


@pytest.fixture(scope="session")
def world(cognito_signing_keys: list[RSAPrivateKey]) -> World:
    """Pool A (the one every verifier trusts), pool B (another tenant) and the attacker.

    RSA key generation is slow, so this is built once per session.
    """
    pool = LocalIssuer(POOL_ID, CLIENT_ID, keys=cognito_signing_keys, clock=_clock)
    assert pool.issuer == ISSUER
    other_pool = LocalIssuer(
        "us-east-1_OtherPool2",
        "other0client0id0123456789b",
        keys=[generate_rsa_key()],
        clock=_clock,
    )
    return World(
        pool=pool,
        other_pool=other_pool,
        attacker=SigningKey("attacker-key-1", generate_rsa_key()),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
    )


@pytest.fixture(scope="session")
def weak_key() -> RSAPrivateKey:
    """A 1024-bit RSA key (below the 2048-bit floor)."""
    return generate_rsa_key(1024)
