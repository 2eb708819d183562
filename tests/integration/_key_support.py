"""Shared helper of the key-store tests: wait for a JWKS fetch that runs apart from any request."""

from __future__ import annotations

import threading

from cognito_guard import CognitoVerifier, KeysUnavailableError


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


def warm(verifier: CognitoVerifier, token: str) -> None:
    """Verify ``token`` once the first JWKS fetch has landed.

    For tests whose subject comes after the first fetch: on a busy machine that fetch can outlast
    a short ``max_wait``, and its 503 says "retry" while the fetch goes on.
    """
    for _ in range(500):
        try:
            verifier.verify(token)
            return
        except KeysUnavailableError:
            threading.Event().wait(0.01)
    verifier.verify(token)


def verify_in_threads(verifier: CognitoVerifier, token: str, count: int) -> list[object]:
    """``count`` threads verify ``token`` at once; each one's subject, or the error it raised."""
    barrier = threading.Barrier(count)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(verifier.verify(token).sub)
        except Exception as exc:  # collected for the caller to assert on
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results
