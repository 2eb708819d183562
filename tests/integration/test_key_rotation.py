"""Key rotation without refusals, against a real JWKS server on loopback (the penalty box).

A kid missing from a successfully fetched JWKS is fetched for at once; only after such a fetch do
unknown kids wait out the cool-down (all of them: one window per store). While the keys cannot be
had, an unknown kid is answered 503 with Retry-After, never 401.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import CognitoVerifier, KeyPolicy, KeysUnavailableError, UnknownKeyError
from cognito_guard.testing import JWKSServer, LocalIssuer, ManualClock

from ._key_support import wait_until_landed

POLICY = KeyPolicy(ttl=600, unknown_kid_cooldown=30, stale_if_error=3600, backoff_initial=5)


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=clock)


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with issuer.serve() as running:
        yield running


@pytest.fixture
def verifier(issuer: LocalIssuer, server: JWKSServer) -> CognitoVerifier:
    return issuer.verifier(jwks_uri=server.jwks_uri, key_policy=POLICY, token_cache_size=0)


def test_key_published_right_after_start_up_is_accepted(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier
) -> None:
    verifier.verify(issuer.access_token())  # the start-up fetch
    issuer.rotate()
    assert verifier.verify(issuer.access_token()).sub  # no cool-down after an ordinary fetch
    assert server.request_count() == 2


def test_key_published_right_after_a_ttl_refresh_is_accepted(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    old = issuer.access_token(expires_in=7200)
    verifier.verify(old)
    clock.advance(POLICY.ttl + 1)
    verifier.verify(old)  # starts the TTL refresh, which runs in the background
    wait_until_landed(verifier)
    assert server.request_count() == 2
    issuer.rotate()
    assert verifier.verify(issuer.access_token()).sub
    assert server.request_count() == 3


@pytest.mark.anyio
async def test_async_key_published_right_after_start_up_is_accepted(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier
) -> None:
    await verifier.averify(issuer.access_token())
    issuer.rotate()
    assert (await verifier.averify(issuer.access_token())).sub
    assert server.request_count() == 2


def test_after_a_miss_every_unknown_kid_waits_out_the_cool_down(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    verifier.verify(issuer.access_token())
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.access_token(header={"kid": "never-published"}))
    assert server.request_count() == 2  # fetched at once: the miss was the first
    issuer.rotate()  # a real new key, but inside the window opened by the miss
    new_token = issuer.access_token()
    with pytest.raises(UnknownKeyError):
        verifier.verify(new_token)
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.access_token(header={"kid": "another-one"}))
    assert server.request_count() == 2
    clock.advance(POLICY.unknown_kid_cooldown)
    assert verifier.verify(new_token).sub  # the window is over: one fetch finds it
    assert server.request_count() == 3


def test_random_kid_flood_costs_one_fetch_per_window(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    good = issuer.access_token()
    verifier.verify(good)
    for window in range(3):
        for n in range(100):
            with pytest.raises(UnknownKeyError):
                verifier.verify(issuer.access_token(header={"kid": f"random-{window}-{n}"}))
            assert verifier.verify(good).sub  # known keys keep working throughout
            clock.advance(POLICY.unknown_kid_cooldown / 100)
        assert server.request_count() == 2 + window


def test_failed_refetch_answers_503_with_retry_after_and_recovers(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    old = issuer.access_token()
    verifier.verify(old)
    issuer.rotate()
    new = issuer.access_token()
    server.status = 503
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(new)  # the kid may well be real: not a 401
    assert caught.value.status_code == 503
    assert caught.value.retry_after == POLICY.unknown_kid_cooldown
    clock.advance(10)
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(new)  # inside the window: no new fetch, an honest Retry-After
    assert caught.value.retry_after == POLICY.unknown_kid_cooldown - 10
    assert verifier.verify(old).sub  # known keys are not affected
    assert server.request_count() == 2
    server.status = 200
    clock.advance(POLICY.unknown_kid_cooldown - 10)
    assert verifier.verify(new).sub  # recovered by itself
    assert server.request_count() == 3


def test_unknown_kid_after_a_successful_refetch_is_401_not_503(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    verifier.verify(issuer.access_token())
    server.status = 503
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token(header={"kid": "ghost"}))
    server.status = 200
    clock.advance(POLICY.unknown_kid_cooldown)
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.access_token(header={"kid": "ghost"}))  # now we know
    assert server.request_count() == 3


def test_unknown_kid_while_the_ttl_refresh_fails_is_503_and_known_keys_serve(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier, clock: ManualClock
) -> None:
    old = issuer.access_token(expires_in=7200)
    verifier.verify(old)
    server.status = 500
    clock.advance(POLICY.ttl + 1)
    assert verifier.verify(old).sub  # stale keys serve while the refresh fails
    wait_until_landed(verifier)
    assert verifier.verify(old).sub  # and after it failed
    issuer.rotate()
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(issuer.access_token())
    assert caught.value.retry_after >= 1
    assert server.request_count() == 2  # inside the back-off: no fetch per request


def test_threads_with_a_new_key_do_not_pile_up_on_its_fetch(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier
) -> None:
    """Only the thread that fetches waits; the others get 503 at once, and one fetch serves all."""
    verifier.verify(issuer.access_token())
    issuer.rotate()
    token = issuer.access_token()
    server.delay = 0.3  # the fetch for the new kid is still in flight when the others arrive
    barrier = threading.Barrier(32)
    results: list[object] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(verifier.verify(token).sub)
        except Exception as exc:  # collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 32
    accepted = [r for r in results if isinstance(r, str) and r]
    refused = [r for r in results if isinstance(r, KeysUnavailableError) and r.retry_after == 1]
    assert accepted and len(accepted) + len(refused) == 32, results[:3]
    assert refused  # 31 threads arrived while the fetch was in flight: not all of them waited
    assert verifier.verify(token).sub
    assert server.request_count() == 2


@pytest.mark.anyio
async def test_async_burst_with_a_new_key_shares_one_fetch(
    issuer: LocalIssuer, server: JWKSServer, verifier: CognitoVerifier
) -> None:
    await verifier.averify(issuer.access_token())
    issuer.rotate()
    token = issuer.access_token()
    server.delay = 0.2
    results = await asyncio.gather(*(verifier.averify(token) for _ in range(200)))
    assert len({claims.sub for claims in results}) == 1
    assert server.request_count() == 2
