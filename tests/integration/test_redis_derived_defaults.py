"""Redis-backed objects built with one timing option derive the others from it, against a real
Redis: ``RedisRevocations(url, max_staleness=2)`` works, and its thread re-syncs at the derived
interval; a ``RedisTokenCache`` behind a slow token client takes a lock that outlasts it. Only a
contradiction between options the caller passed is refused, naming them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import ConfigurationError
from cognito_guard.client import ClientCredentialsAuth, RedisTokenCache
from cognito_guard.m2m_cache import cache_key
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import LocalIssuer, OAuthServer

from .._polling import wait_for
from ._oauth_support import SECRET, ProtectedAPI

# -- RedisRevocations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "resync_interval"),
    [
        ({"max_staleness": 2}, 1.0),
        ({"max_staleness": 0.5}, 0.25),
        ({"max_staleness": 30}, 5.0),
        ({}, 5.0),
        ({"resync_interval": 10}, 10.0),
        ({"max_staleness": 2, "resync_interval": 1.5}, 1.5),
    ],
)
def test_resync_interval_follows_max_staleness_unless_given(
    cognito_redis_url: str, options: dict[str, float], resync_interval: float
) -> None:
    with RedisRevocations(cognito_redis_url, **options) as revocations:  # type: ignore[arg-type]
        assert revocations.resync_interval == resync_interval
        assert revocations.max_staleness == options.get("max_staleness", 60)
        assert revocations.wait_synced()


def test_a_short_max_staleness_alone_keeps_a_healthy_list_fresh(cognito_redis_url: str) -> None:
    with RedisRevocations(cognito_redis_url, max_staleness=0.4) as revocations:
        assert revocations.wait_synced()
        first = revocations.syncs
        # The thread re-syncs at the derived 0.2 s, so the list never counts as stale.
        wait_for(lambda: revocations.syncs >= first + 5)
        revocations.check({"jti": "j-1", "sub": "u-1", "iat": int(time.time())})


def test_an_explicit_contradiction_is_refused_naming_both_options() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisRevocations("redis://127.0.0.1:1/0", max_staleness=2, resync_interval=5)
    message = str(caught.value)
    assert "resync_interval=5" in message and "max_staleness=2" in message


def test_a_resync_interval_beyond_the_default_staleness_names_the_default() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisRevocations("redis://127.0.0.1:1/0", resync_interval=90)
    message = str(caught.value)
    assert "resync_interval=90" in message
    assert "the default max_staleness (60)" in message and "max_staleness=" not in message


# -- RedisTokenCache ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def running(
    cognito_signing_keys: list[RSAPrivateKey],
) -> Iterator[tuple[OAuthServer, ProtectedAPI]]:
    issuer = LocalIssuer(keys=cognito_signing_keys)
    with issuer.serve_oauth(client_secret=SECRET) as server, ProtectedAPI(issuer) as api:
        yield server, api  # type: ignore[misc]


def test_a_slow_token_client_holds_a_lock_that_outlasts_its_timeout(
    running: tuple[OAuthServer, ProtectedAPI],
    cognito_redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, api = running
    server.reset()
    monkeypatch.setattr(server, "token_delay", 1.0)  # time to look at the lock during the fetch
    cache = RedisTokenCache(cognito_redis_url, encryption_key=Fernet.generate_key())
    store = redis.Redis.from_url(cognito_redis_url)
    try:
        auth = ClientCredentialsAuth(server.client(timeout=45), scopes=["orders/read"], cache=cache)
        key = cache_key(server.domain + "/oauth2/token", server.client_id, ("orders/read",))
        lock = f"cognito_guard:m2m:{key}:lock"
        statuses: list[int] = []

        def request() -> None:
            with httpx.Client(auth=auth) as http:
                statuses.append(http.get(api.orders_url).status_code)

        fetching = threading.Thread(target=request)
        fetching.start()
        wait_for(lambda: store.exists(lock))
        lease_ms = store.pttl(lock)
        fetching.join(timeout=30)
        assert statuses == [200]
        assert 45_000 < lease_ms <= 55_000  # the 45 s timeout and 10 s more
    finally:
        store.close()
        cache.close()
