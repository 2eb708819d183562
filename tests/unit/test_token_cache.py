"""RedisTokenCache without a server: configuration, keys, and what a stored value is worth.

Constructing a RedisTokenCache from a URL connects to nothing, so these run without Redis.
"""

from __future__ import annotations

import json
import time

import pytest
from cryptography.fernet import Fernet

from cognito_guard.client import (
    ClientCredentialsAuth,
    CognitoTokenClient,
    MemoryTokenCache,
    RedisTokenCache,
    TokenSet,
)
from cognito_guard.errors import ConfigurationError
from cognito_guard.m2m_cache import CacheRequest, cache_key
from cognito_guard.testing import ManualClock

URL = "redis://app:redis-pw@127.0.0.1:6379/0"
KEY = Fernet.generate_key()


def cache(**options: object) -> RedisTokenCache:
    options.setdefault("encryption_key", KEY)
    return RedisTokenCache(URL, **options)  # type: ignore[arg-type]


def client(timeout: float = 10.0) -> CognitoTokenClient:
    return CognitoTokenClient(
        "client-1", "secret-1", domain="https://auth.example.com", timeout=timeout
    )


def tokens(clock: ManualClock, access: str = "tok-A", expires_in: int = 3600) -> TokenSet:
    return TokenSet(
        access_token=access, expires_in=expires_in, expires_at=clock() + expires_in, clock=clock
    )


# -- configuration -------------------------------------------------------------------------------


def test_no_key_is_a_configuration_error_that_says_how_to_make_one() -> None:
    with pytest.raises(ConfigurationError) as info:
        RedisTokenCache(URL)
    assert "Fernet.generate_key()" in str(info.value)
    assert "allow_plaintext=True" in str(info.value)


@pytest.mark.parametrize("bad", ["not-a-key", b"short", "A" * 44 + "!", 42, []])
def test_a_malformed_key_is_a_configuration_error_that_never_echoes_it(bad: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        cache(encryption_key=bad)
    assert "Fernet" in str(info.value)
    if isinstance(bad, str) and bad:
        assert bad not in str(info.value)


def test_plaintext_needs_to_be_asked_for_and_excludes_a_key() -> None:
    assert not RedisTokenCache(URL, encryption_key=None, allow_plaintext=True).encrypted
    with pytest.raises(ConfigurationError):
        cache(allow_plaintext=True)


@pytest.mark.parametrize(
    "options",
    [{"prefix": ""}, {"lock_lease": 0}, {"wait_timeout": -1}, {"lock_lease": True}],
)
def test_bad_options_are_configuration_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        cache(**options)


def test_a_non_redis_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        RedisTokenCache("http://127.0.0.1:6379", encryption_key=KEY)


def test_the_lease_must_outlast_the_token_request() -> None:
    with pytest.raises(ConfigurationError, match="lock_lease"):
        ClientCredentialsAuth(client(timeout=30), cache=cache(lock_lease=30))
    ClientCredentialsAuth(client(timeout=10), cache=cache(lock_lease=30))


def test_cache_must_be_a_token_cache() -> None:
    with pytest.raises(ConfigurationError):
        ClientCredentialsAuth(client(), cache=object())  # type: ignore[arg-type]


def test_repr_shows_neither_the_redis_password_nor_the_key() -> None:
    text = repr(cache())
    assert "redis-pw" not in text and KEY.decode() not in text
    assert "encrypted=True" in text


# -- keys and slots ------------------------------------------------------------------------------


def test_the_cache_key_is_per_endpoint_client_and_scope_set() -> None:
    url = "https://auth.example.com/oauth2/token"
    key = cache_key(url, "client-1", ["b", "a"])
    assert key == cache_key(url, "client-1", ["a", "b"])
    assert (
        len(
            {
                key,
                cache_key(url, "client-2", ["a", "b"]),
                cache_key(url, "client-1", ["a"]),
                cache_key("https://other.example.com/oauth2/token", "client-1", ["a", "b"]),
                cache_key(url, "client-1", ["a b"]),
            }
        )
        == 5
    )
    assert "client-1" not in key


def test_without_a_shared_cache_auths_share_the_clients_slot_as_before() -> None:
    shared = client()
    default = ClientCredentialsAuth(shared, scopes=["a", "b"])
    memory = ClientCredentialsAuth(shared, scopes=["b", "a"], cache=MemoryTokenCache())
    redis_cache = cache()
    on_redis = ClientCredentialsAuth(shared, scopes=["a", "b"], cache=redis_cache)
    assert default._slot is memory._slot is not on_redis._slot
    again = ClientCredentialsAuth(shared, scopes=["a", "b"], cache=redis_cache)
    assert again._slot is on_redis._slot


# -- what a stored value is worth ----------------------------------------------------------------


def test_a_sealed_entry_opens_under_its_own_key_only() -> None:
    clock = ManualClock(time.time())
    c = cache()
    raw = c._seal("k1", tokens(clock))
    assert b"tok-A" not in raw
    opened = c._open(CacheRequest("k1", 60, clock), raw)
    assert opened.tokens is not None and opened.tokens.access_token == "tok-A"
    assert opened.tokens.clock is clock
    foreign = c._open(CacheRequest("k2", 60, clock), raw)
    assert foreign.tokens is None and foreign.overwrite == raw and foreign.problem


def test_another_keys_entry_is_unreadable_and_not_to_be_overwritten() -> None:
    clock = ManualClock(time.time())
    raw = cache(encryption_key=Fernet.generate_key())._seal("k1", tokens(clock))
    opened = cache()._open(CacheRequest("k1", 60, clock), raw)
    assert opened.tokens is None and opened.overwrite == b"" and opened.problem


def test_a_rotated_key_list_reads_entries_of_the_old_key() -> None:
    clock = ManualClock(time.time())
    old, new = Fernet.generate_key(), Fernet.generate_key()
    raw = cache(encryption_key=old)._seal("k1", tokens(clock))
    opened = cache(encryption_key=[new, old])._open(CacheRequest("k1", 60, clock), raw)
    assert opened.tokens is not None


def test_due_and_replaced_tokens_are_not_returned() -> None:
    clock = ManualClock(time.time())
    c = cache()
    raw = c._seal("k1", tokens(clock))
    rejected = c._open(CacheRequest("k1", 60, clock, "tok-A"), raw)
    assert rejected.tokens is None and rejected.rejected
    assert c._open(CacheRequest("k1", 60, clock, "tok-B"), raw).tokens is not None
    clock.advance(3600 - 60)
    due = c._open(CacheRequest("k1", 60, clock), raw)
    assert due.tokens is None and due.overwrite == raw and not due.rejected
    assert not c._open(CacheRequest("k1", 60, clock, "tok-A"), raw).rejected  # due, not rejected


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"[]",
        b'{"v": 2}',
        b'{"v": 1, "key": "k1"}',
        b'{"v": 1, "key": "k1", "tokens": 1}',
        b'{"v": 1, "key": "k1", "tokens": {"access_token": "t", "expires_in": 9, '
        b'"expires_at": NaN}}',
    ],
)
def test_garbage_under_our_key_is_corrupt_and_replaceable(data: bytes) -> None:
    clock = ManualClock(time.time())
    raw = Fernet(KEY).encrypt(data)
    opened = cache()._open(CacheRequest("k1", 60, clock), raw)
    assert opened.tokens is None and opened.overwrite == raw and opened.problem


def test_a_plaintext_reader_leaves_what_it_cannot_parse_alone() -> None:
    clock = ManualClock(time.time())
    plain = RedisTokenCache(URL, encryption_key=None, allow_plaintext=True)
    raw = plain._seal("k1", tokens(clock))
    assert json.loads(raw)["tokens"]["access_token"] == "tok-A"
    assert plain._open(CacheRequest("k1", 60, clock), raw).tokens is not None
    encrypted = cache()._seal("k1", tokens(clock))
    opened = plain._open(CacheRequest("k1", 60, clock), encrypted)
    assert opened.tokens is None and opened.overwrite == b""


def test_the_old_module_path_is_an_alias_of_m2m_cache() -> None:
    import cognito_guard.m2m_cache as m2m_cache
    import cognito_guard.token_cache as token_cache

    for name in (*m2m_cache.__all__, "effective_skew"):
        assert getattr(token_cache, name) is getattr(m2m_cache, name)
