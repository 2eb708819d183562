"""The revocation list built from the settings is the one sign-out reaches: no second list."""

from __future__ import annotations

from cognito_guard.bearer import BearerGuard
from cognito_guard.revocation import MemoryRevocations
from cognito_guard.sessions import sign_in_from_env
from cognito_guard.testing import LocalIssuer

SIGN_IN = {"COGNITO_SIGN_IN_DOMAIN": "https://auth.example.com", "COGNITO_CLIENT_ID": "app"}


def test_sign_in_from_env_logs_out_into_the_verifiers_revocation_list() -> None:
    issuer = LocalIssuer()
    revocations = MemoryRevocations()
    verifier = issuer.verifier(revocations=revocations)
    sign_in = sign_in_from_env(verifier, SIGN_IN)
    assert sign_in is not None
    assert sign_in.revocations is revocations
    assert BearerGuard(verifier).revocations is revocations  # the same list, for sign_out


def test_sign_in_from_env_without_a_list_records_nothing() -> None:
    sign_in = sign_in_from_env(LocalIssuer().verifier(), SIGN_IN)
    assert sign_in is not None and sign_in.revocations is None
