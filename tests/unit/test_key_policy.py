"""The key store's policy, decided without I/O: who is served at once, who waits, who fetches."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import KeyPolicy, KeysUnavailableError
from cognito_guard.keys import _FETCH, KeyStore, parse_jwks
from cognito_guard.testing import LocalIssuer, ManualClock

URL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/.well-known/jwks.json"
POLICY = KeyPolicy(ttl=600, stale_if_error=60, backoff_initial=5)


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=clock)


@pytest.fixture
def store(issuer: LocalIssuer, clock: ManualClock) -> KeyStore:
    store = KeyStore([URL], POLICY, clock=clock)
    store._record_success(parse_jwks(issuer.jwks))  # as a fetch that just succeeded
    return store


def test_a_cached_kid_past_the_ttl_is_served_and_starts_one_background_refresh(
    store: KeyStore, issuer: LocalIssuer, clock: ManualClock
) -> None:
    kid = issuer.access_key.kid
    clock.advance(POLICY.ttl)
    key, wait, start = store._plan(kid, clock())
    assert key is store._keys[kid]  # the answer is the key: nothing to wait for
    assert wait is None
    assert start is not None and store._flights.current is start  # this caller starts the refresh
    assert store._plan(kid, clock()) == (key, None, None)  # one refresh for all


def test_an_unknown_kid_past_the_ttl_waits_for_the_refresh(
    store: KeyStore, issuer: LocalIssuer, clock: ManualClock
) -> None:
    clock.advance(POLICY.ttl)
    _, _, refresh = store._plan(issuer.access_key.kid, clock())
    assert store._plan("new-kid", clock()) == (_FETCH, refresh, None)  # joins it, to wait


def test_past_ttl_plus_stale_if_error_a_cached_kid_waits_for_the_fetch(
    store: KeyStore, issuer: LocalIssuer, clock: ManualClock
) -> None:
    clock.advance(POLICY.ttl + POLICY.stale_if_error)
    decision, wait, start = store._plan(issuer.access_key.kid, clock())
    assert decision is _FETCH
    assert wait is not None and start is wait  # it fetches, and waits (at most max_wait)


def test_a_cached_kid_inside_the_back_off_is_served_without_a_fetch(
    store: KeyStore, issuer: LocalIssuer, clock: ManualClock
) -> None:
    kid = issuer.access_key.kid
    clock.advance(POLICY.ttl)
    store._record_failure(["HTTP 503"])  # the refresh failed: no fetch for backoff_initial
    assert store._plan(kid, clock()) == (store._keys[kid], None, None)
    with pytest.raises(KeysUnavailableError):
        store._plan("new-kid", clock())  # the keys cannot be had: 503, not 401
    clock.advance(POLICY.backoff_initial)
    _, wait, start = store._plan(kid, clock())
    assert wait is None and start is not None  # the back-off is over: refreshed, still no wait
