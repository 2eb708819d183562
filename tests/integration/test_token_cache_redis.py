"""RedisTokenCache against a real Redis, one test process.

Each "process" of the fleet is its own ``CognitoTokenClient`` + ``RedisTokenCache`` pair (no
state is shared between pairs but Redis, as between OS processes; the multi-process tests are in
``test_token_cache_fleet.py``). Expiry is driven by one pinned clock shared by the pairs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import redis
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard._oauth import unverified_claims
from cognito_guard.client import (
    ClientCredentialsAuth,
    OAuthError,
    RedisTokenCache,
    TokenSet,
)
from cognito_guard.m2m_cache import CacheRequest, cache_key
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from ._oauth_support import SECRET, ProtectedAPI

TOKEN = "/oauth2/token"
KEY = Fernet.generate_key()
OTHER_KEY = Fernet.generate_key()


CACHES: list[RedisTokenCache] = []


@pytest.fixture(autouse=True)
def close_caches() -> Iterator[None]:
    yield
    while CACHES:
        CACHES.pop().close()


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def running(issuer: LocalIssuer) -> Iterator[tuple[OAuthServer, ProtectedAPI]]:
    with issuer.serve_oauth(client_secret=SECRET) as server, ProtectedAPI(issuer) as api:
        yield server, api  # type: ignore[misc]


@pytest.fixture
def server(running: tuple[OAuthServer, ProtectedAPI]) -> OAuthServer:
    running[0].reset()
    return running[0]


@pytest.fixture
def api(running: tuple[OAuthServer, ProtectedAPI]) -> ProtectedAPI:
    api = running[1]
    api.seen.clear()
    api.rejected.clear()
    return api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def store(cognito_redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(cognito_redis_url)
    yield client
    client.close()


def process(
    server: OAuthServer,
    url: str,
    clock: ManualClock,
    scopes: tuple[str, ...] = ("orders/read",),
    key: bytes | None = KEY,
) -> ClientCredentialsAuth:
    """One member of the fleet: a client, a cache and an auth of its own."""
    client = server.client(clock=clock)
    cache = RedisTokenCache(url, encryption_key=key, lock_lease=15)
    CACHES.append(cache)
    return ClientCredentialsAuth(client, scopes=scopes, cache=cache)


def get(auth: ClientCredentialsAuth, url: str, mode: str = "sync") -> int:
    """One request through ``auth``, with httpx.Client or (``"async"``) httpx.AsyncClient."""
    if mode == "sync":
        with httpx.Client(auth=auth) as http:
            return http.get(url).status_code

    async def go() -> int:
        async with httpx.AsyncClient(auth=auth) as http:
            status = (await http.get(url)).status_code
        if isinstance(auth.cache, RedisTokenCache):
            await auth.cache.aclose()  # an asyncio client belongs to its loop: close it there
        return status

    return anyio.run(go)


def entry_name(server: OAuthServer, scopes: tuple[str, ...] = ("orders/read",)) -> str:
    return "cognito_guard:m2m:" + cache_key(server.domain + TOKEN, server.client_id, scopes)


def stored_tokens(store: redis.Redis, name: str, key: bytes = KEY) -> TokenSet:
    raw = store.get(name)
    assert isinstance(raw, bytes)
    data = json.loads(Fernet(key).decrypt(raw))
    return TokenSet.from_dict(data["tokens"])


def test_a_second_process_uses_the_entry_without_calling_cognito(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
) -> None:
    first, second = (process(server, cognito_redis_url, clock) for _ in range(2))
    assert get(first, api.orders_url) == get(second, api.orders_url) == 200
    assert server.request_count(TOKEN) == 1
    assert len(set(api.seen)) == 1
    raw = store.get(entry_name(server))
    assert isinstance(raw, bytes)
    assert api.seen[0].encode() not in raw  # stored encrypted
    ttl = store.pttl(entry_name(server))
    assert 0 < ttl <= (3600 - 60) * 1000  # expires refresh_skew before the token


@pytest.mark.anyio
async def test_async_with_a_sync_redis_client_keeps_sharing(
    server: OAuthServer, api: ProtectedAPI, cognito_redis_url: str, clock: ManualClock
) -> None:
    sync_client = redis.Redis.from_url(cognito_redis_url)
    try:
        auths = [
            ClientCredentialsAuth(
                server.client(clock=clock),
                scopes=["orders/read"],
                cache=RedisTokenCache(client=sync_client, encryption_key=KEY),
            )
            for _ in range(2)
        ]
        for auth in auths:
            async with httpx.AsyncClient(auth=auth) as http:
                assert (await http.get(api.orders_url)).status_code == 200
    finally:
        sync_client.close()
    assert server.request_count(TOKEN) == 1


def test_a_401_drops_the_shared_token_once_for_the_fleet(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
) -> None:
    first, second = (process(server, cognito_redis_url, clock) for _ in range(2))
    assert get(first, api.orders_url) == get(second, api.orders_url) == 200
    rejected = api.seen[0]
    api.rejected.add(rejected)  # e.g. revoked server-side
    assert get(first, api.orders_url) == 200  # 401, one new token, the retry succeeds
    assert get(second, api.orders_url) == 200  # 401, finds the new entry: no second fetch
    assert server.request_count(TOKEN) == 2
    renewed = stored_tokens(store, entry_name(server)).access_token
    assert renewed != rejected
    assert api.seen[2:] == [rejected, renewed, rejected, renewed]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_redis_down_each_process_fetches_its_own_warns_once_and_shares_again_when_back(
    server: OAuthServer,
    api: ProtectedAPI,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    own = redis_server_or_skip()
    try:
        first, second = (process(server, own.url, clock) for _ in range(2))
        assert get(first, api.orders_url, mode) == get(second, api.orders_url, mode) == 200
        assert server.request_count(TOKEN) == 1

        own.stop()
        caplog.set_level(logging.WARNING, "cognito_guard")
        for _ in range(2):  # two token lifetimes of one outage
            clock.advance(3600)
            assert get(first, api.orders_url, mode) == get(second, api.orders_url, mode) == 200
        assert server.request_count(TOKEN) == 1 + 2 * 2  # one fetch per process per lifetime
        down = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(down) == 2  # one per process (cache), not one per fetch
        assert all(r.levelno == logging.WARNING for r in down)

        own.start()  # back, empty
        caplog.clear()
        caplog.set_level(logging.INFO, "cognito_guard")
        clock.advance(3600)
        assert get(first, api.orders_url, mode) == get(second, api.orders_url, mode) == 200
        assert server.request_count(TOKEN) == 6  # shared again: one fetch for both
        assert len(set(api.seen[-2:])) == 1
        assert [r for r in caplog.records if "reachable again" in r.getMessage()]
    finally:
        own.close()


def test_a_process_with_another_key_fetches_its_own_and_leaves_the_entry_alone(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = process(server, cognito_redis_url, clock)
    assert get(good, api.orders_url) == 200
    shared = api.seen[0]
    caplog.set_level(logging.WARNING, "cognito_guard")
    wrong = process(server, cognito_redis_url, clock, key=OTHER_KEY)
    assert get(wrong, api.orders_url) == 200
    assert server.request_count(TOKEN) == 2
    assert api.seen[1] != shared  # its own token, never a value it could not read
    assert [r for r in caplog.records if "cannot be read" in r.getMessage()]
    # The fleet's entry is intact: a new process with the right key still needs no fetch.
    assert stored_tokens(store, entry_name(server)).access_token == shared
    assert get(process(server, cognito_redis_url, clock), api.orders_url) == 200
    assert server.request_count(TOKEN) == 2
    assert api.seen[2] == shared


def test_garbage_is_never_returned_and_replaced_only_when_it_cannot_be_ours(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
) -> None:
    name = entry_name(server)
    store.set(name, b"\x00not-a-fernet-token", px=60_000)  # e.g. another key's, with a TTL
    assert get(process(server, cognito_redis_url, clock), api.orders_url) == 200
    assert store.get(name) == b"\x00not-a-fernet-token"
    store.set(name, b"\x00not-a-fernet-token")  # no TTL: never written by a RedisTokenCache
    assert get(process(server, cognito_redis_url, clock), api.orders_url) == 200
    assert stored_tokens(store, name).access_token == api.seen[1]
    assert server.request_count(TOKEN) == 2


def test_an_entry_that_decrypts_to_garbage_is_treated_as_missing_and_replaced(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "cognito_guard")
    store.set(entry_name(server), Fernet(KEY).encrypt(b'{"v": 1, "key": '), px=60_000)
    assert get(process(server, cognito_redis_url, clock), api.orders_url) == 200
    assert server.request_count(TOKEN) == 1
    assert stored_tokens(store, entry_name(server)).access_token == api.seen[0]
    assert [r for r in caplog.records if "is corrupt" in r.getMessage()]


def test_an_entry_of_other_scopes_copied_under_this_key_is_foreign(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert get(process(server, cognito_redis_url, clock), api.orders_url) == 200
    read_token = api.seen[0]
    write_name = entry_name(server, ("orders/write",))
    raw = store.get(entry_name(server))
    assert isinstance(raw, bytes)
    store.set(write_name, raw, px=60_000)  # copied (or swapped) by someone with the key

    caplog.set_level(logging.WARNING, "cognito_guard")
    writer = process(server, cognito_redis_url, clock, scopes=("orders/write",))
    assert get(writer, api.orders_url) == 200
    assert api.seen[1] != read_token
    assert unverified_claims(api.seen[1])["scope"] == "orders/write"
    assert server.request_count(TOKEN) == 2
    assert stored_tokens(store, write_name).access_token == api.seen[1]
    assert [r for r in caplog.records if "another client or scopes" in r.getMessage()]


def test_nothing_secret_in_reprs_or_logs(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    own = redis_server_or_skip(password="redis-pw-123")
    caplog.set_level(logging.DEBUG, "cognito_guard")
    try:
        cache = RedisTokenCache(own.url, encryption_key=KEY)
        CACHES.append(cache)
        auth = ClientCredentialsAuth(
            server.client(clock=clock), scopes=["orders/read"], cache=cache
        )
        assert get(auth, api.orders_url) == 200
        own.stop()
        clock.advance(3600)
        assert get(auth, api.orders_url) == 200
    finally:
        own.close()
    text = " ".join([repr(cache), repr(auth.client), caplog.text])
    assert "unreachable" in caplog.text
    for secret in ("redis-pw-123", KEY.decode(), SECRET, *api.seen):
        assert secret not in text


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_fetch_frees_the_lock_at_once(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
    mode: str,
) -> None:
    server.inject_oauth_error(TOKEN, "invalid_client", 401)
    with pytest.raises(OAuthError):
        get(process(server, cognito_redis_url, clock), api.orders_url, mode)
    assert not store.exists(entry_name(server) + ":lock")  # nobody waits out the lease
    assert get(process(server, cognito_redis_url, clock), api.orders_url, mode) == 200
    assert server.request_count(TOKEN) == 2


def test_a_cancelled_async_fetch_frees_the_lock_at_once(
    cognito_redis_url: str, store: redis.Redis
) -> None:
    cache = RedisTokenCache(cognito_redis_url, encryption_key=KEY, lock_lease=15)
    CACHES.append(cache)
    held: list[int] = []

    async def afetch() -> TokenSet:
        held.append(store.exists("cognito_guard:m2m:k:lock"))
        await asyncio.sleep(10)  # cancelled here
        raise AssertionError("not cancelled")

    async def go() -> None:
        fetching = cache.aget(CacheRequest("k", 60, time.time), afetch)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(fetching, 0.3)
        await cache.aclose()

    asyncio.run(go())
    assert held == [1]  # the lock was ours during the token request...
    assert not store.exists("cognito_guard:m2m:k:lock")  # ...and freed by the cancellation


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_lock_held_past_wait_timeout_lets_the_process_fetch_its_own(
    server: OAuthServer,
    api: ProtectedAPI,
    cognito_redis_url: str,
    clock: ManualClock,
    store: redis.Redis,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    lock = entry_name(server) + ":lock"
    store.set(lock, "a-stuck-holder", px=60_000)
    caplog.set_level(logging.WARNING, "cognito_guard")
    cache = RedisTokenCache(cognito_redis_url, encryption_key=KEY, wait_timeout=0.2)
    CACHES.append(cache)
    auth = ClientCredentialsAuth(server.client(clock=clock), scopes=["orders/read"], cache=cache)
    assert get(auth, api.orders_url, mode) == 200
    assert server.request_count(TOKEN) == 1
    assert store.get(lock) == b"a-stuck-holder"  # not ours: left alone
    assert [r for r in caplog.records if "another process's token request" in r.getMessage()]
