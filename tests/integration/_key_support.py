"""Shared helper of the key-store tests: wait for a JWKS fetch that runs apart from any request."""

from __future__ import annotations

import threading

from cognito_guard import CognitoVerifier


def wait_until_landed(verifier: CognitoVerifier, timeout: float = 5.0) -> None:
    """Return once no JWKS fetch of the verifier's first issuer is under way.

    A TTL refresh runs in the background (stale-while-revalidate): a test that counts fetches or
    needs what the refresh brought waits for it here.
    """
    store = verifier.key_store(verifier.issuers[0])
    for _ in range(int(timeout / 0.01)):
        if store._flights.current is None:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the JWKS fetch never finished")
