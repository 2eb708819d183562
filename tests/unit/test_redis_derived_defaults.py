"""RedisTokenCache options left out follow the ones given: no refusal of an option the caller
never set. Constructing the cache connects to nothing, so these run without Redis."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from cognito_guard.client import ClientCredentialsAuth, CognitoTokenClient, RedisTokenCache
from cognito_guard.errors import ConfigurationError

URL = "redis://app:redis-pw@127.0.0.1:6379/0"
KEY = Fernet.generate_key()


def cache(**options: object) -> RedisTokenCache:
    return RedisTokenCache(URL, encryption_key=KEY, **options)  # type: ignore[arg-type]


def client(timeout: float) -> CognitoTokenClient:
    return CognitoTokenClient(
        "client-1", "secret-1", domain="https://auth.example.com", timeout=timeout
    )


def test_defaults() -> None:
    shared = cache()
    assert (shared.lock_lease, shared.wait_timeout) == (30.0, 40.0)
    ClientCredentialsAuth(client(timeout=10), cache=shared)
    assert (shared.lock_lease, shared.wait_timeout) == (30.0, 40.0)


def test_a_slow_token_client_lengthens_the_default_lease_and_wait() -> None:
    shared = cache()
    ClientCredentialsAuth(client(timeout=60), cache=shared)
    assert shared.lock_lease == 70.0  # the client's timeout, and 10 s for the rest of the fetch
    assert shared.wait_timeout == 80.0  # a waiter outlasts a lease whose holder died


def test_a_derived_lease_only_grows_as_clients_are_added() -> None:
    shared = cache()
    ClientCredentialsAuth(client(timeout=60), cache=shared, scopes=["a"])
    ClientCredentialsAuth(client(timeout=5), cache=shared, scopes=["b"])
    ClientCredentialsAuth(client(timeout=45), cache=shared, scopes=["c"])
    assert shared.lock_lease == 70.0


def test_a_given_lease_sets_the_default_wait() -> None:
    shared = cache(lock_lease=60)
    assert (shared.lock_lease, shared.wait_timeout) == (60.0, 70.0)


def test_a_given_wait_is_kept_when_the_lease_follows_a_client() -> None:
    shared = cache(wait_timeout=5)
    ClientCredentialsAuth(client(timeout=60), cache=shared)
    assert (shared.lock_lease, shared.wait_timeout) == (70.0, 5.0)


def test_a_given_lease_shorter_than_the_client_timeout_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientCredentialsAuth(client(timeout=30), cache=cache(lock_lease=20))
    message = str(caught.value)
    assert "lock_lease=20" in message and "timeout (30 s)" in message
