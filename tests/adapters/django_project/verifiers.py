"""A verifier factory for the ``COGNITO_GUARD_VERIFIER`` dotted-path test."""

from __future__ import annotations

from cognito_guard import CognitoVerifier


def local_verifier() -> CognitoVerifier:
    """A verifier of a local pool; it fetches nothing until a token arrives."""
    return CognitoVerifier(
        user_pool_id="us-east-1_LocalPool1",
        client_id="dotted0path0client",
        jwks_uri="http://127.0.0.1:9/jwks.json",
    )
