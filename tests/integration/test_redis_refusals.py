"""A Redis that answers but refuses to write is unavailable to every feature, as one that is down.

A replica promoted late in a failover answers ``READONLY``; a full Redis with ``noeviction``
answers ``OOM``. Neither is a connection error, and neither is a verdict on the request: the
session store answers :class:`SessionStoreUnavailable` (a 503 with ``Retry-After``), a revocation
write :class:`RevocationsUnavailableError`, and the M2M token cache fetches a token of its own.
The server is a real one made to refuse: ``REPLICAOF`` a closed port, or ``maxmemory 1``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import redis

from cognito_guard import RevocationsUnavailableError
from cognito_guard.client import RedisTokenCache, TokenSet
from cognito_guard.m2m_cache import CacheRequest
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import (
    RedisSessionStore,
    SessionStoreUnavailable,
    WebRequest,
    WebSignIn,
)
from cognito_guard.testing import LocalIssuer, RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    server = redis_server_or_skip()
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


REFUSALS = {"READONLY": redis.exceptions.ReadOnlyError, "OOM": redis.exceptions.OutOfMemoryError}


@pytest.fixture(params=sorted(REFUSALS))
def refusing(server: RedisServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a Redis that reads but refuses every write with ``request.param``."""
    raw = redis.Redis.from_url(server.url)
    raw.flushall()
    refusal = REFUSALS[request.param]
    assert not issubclass(refusal, redis.ConnectionError)  # a refusal, not a lost connection
    if request.param == "READONLY":
        raw.replicaof("127.0.0.1", _closed_port())  # a replica whose primary never answers
    else:
        raw.config_set("maxmemory-policy", "noeviction")
        raw.config_set("maxmemory", 1)
    try:
        with pytest.raises(refusal):
            raw.set("probe", b"x")
        yield server.url
    finally:
        raw.replicaof("NO", "ONE")
        raw.config_set("maxmemory", 0)
        raw.close()


def test_the_session_store_answers_store_unavailable(refusing: str) -> None:
    store = RedisSessionStore(refusing, encryption_key=None, allow_plaintext=True)
    try:
        assert store.get("sid") is None  # reads still work
        with pytest.raises(SessionStoreUnavailable) as caught:
            store.put("sid", {"tokens": {}}, 60)
        assert caught.value.retry_after == 5
        with pytest.raises(SessionStoreUnavailable):
            store.replace("sid", {"tokens": {}}, 60)
        with pytest.raises(SessionStoreUnavailable), store.lock("sid", 5, 0.05):
            pytest.fail("the lock was taken on a Redis that refuses writes")
    finally:
        store.close()


# Under OOM a script that has written once runs to its end (Redis does not stop it half way), so
# storing a sign-in state may succeed there: READONLY refuses it from the first write.
@pytest.mark.parametrize("refusing", ["READONLY"], indirect=True)
def test_a_sign_in_on_a_read_only_store_is_a_503_with_retry_after(refusing: str) -> None:
    issuer = LocalIssuer()
    with issuer.serve_oauth(client_secret="refusals-secret") as oauth:
        store = RedisSessionStore(refusing, encryption_key=None, allow_plaintext=True)
        sign_in = WebSignIn(
            verifier=issuer.verifier(jwks_uri=oauth.jwks_uri),
            client=oauth.client(),
            store=store,
            redirect_uri="https://app.example.com/auth/callback",
            logout_uri="https://app.example.com/",
        )
        try:
            request = WebRequest("GET", "/auth/login", {}, {"host": "app.example.com"}, {})
            answer = sign_in.handle(request)
        finally:
            store.close()
    assert answer is not None
    assert answer.status == 503
    assert dict(answer.headers)["Retry-After"] == "5"


def test_a_revocation_write_answers_revocations_unavailable(refusing: str) -> None:
    with RedisRevocations(refusing, start_timeout=0.5, on_unavailable="fail_open") as revocations:
        with pytest.raises(RevocationsUnavailableError):
            revocations.revoke_token("jti-1")
        assert revocations.is_revoked({"jti": "jti-1"})  # this process refuses it anyway


def test_the_m2m_token_cache_fetches_a_token_of_its_own(refusing: str) -> None:
    cache = RedisTokenCache(refusing, allow_plaintext=True)
    fetched: list[TokenSet] = []

    def fetch() -> TokenSet:
        tokens = TokenSet(access_token="own", expires_in=3600, expires_at=time.time() + 3600)
        fetched.append(tokens)
        return tokens

    try:
        tokens = cache.get(CacheRequest("k", 60, time.time), fetch)
    finally:
        cache.close()
    assert tokens.access_token == "own" and len(fetched) == 1
