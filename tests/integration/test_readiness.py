"""readiness.check / acheck against real loopback servers: a JWKS endpoint and a real Redis.

And the start-up it reports on: a RedisRevocations whose Redis is down is constructed without
waiting for its connection timeout, and says "not loaded yet" until the list loads.
"""

from __future__ import annotations

import inspect
import os
import socket
import time
import warnings
from collections.abc import Iterator

import pytest
import redis
from cryptography.fernet import Fernet

from cognito_guard import CognitoVerifier, ConfigurationError, readiness
from cognito_guard.client import CognitoTokenClient
from cognito_guard.config import verifier_from_env
from cognito_guard.revocation import MemoryRevocations, RedisRevocations
from cognito_guard.sessions import MemorySessionStore, RedisSessionStore, WebSignIn
from cognito_guard.testing import JWKSServer, LocalIssuer, ManualClock, RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from .._polling import wait_for

PASSWORD = "pw-readiness-s3cret"


def closed_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def sign_in_with(verifier: CognitoVerifier, store: object) -> WebSignIn:
    client = CognitoTokenClient("client-for-readiness", domain="https://auth.example.com")
    return WebSignIn(
        client=client,
        verifier=verifier,
        redirect_uri="https://app.example.com/auth/callback",
        store=store,  # type: ignore[arg-type]
    )


@pytest.fixture
def redis_with_password() -> Iterator[RedisServer]:
    server = redis_server_or_skip(password=PASSWORD)
    try:
        yield server
    finally:
        server.close()


# -- start-up -------------------------------------------------------------------------------------


def test_construction_with_redis_down_does_not_wait_for_the_connection_timeout() -> None:
    timeout = 10.0  # long: waiting for it (or twice it) would be plain on the clock
    started = time.monotonic()
    revocations = RedisRevocations(f"redis://127.0.0.1:{closed_port()}/0", timeout=timeout)
    elapsed = time.monotonic() - started
    try:
        assert elapsed < timeout, f"the constructor waited {elapsed:.1f}s for a refused Redis"
        assert revocations.last_sync is None
    finally:
        revocations.close()


def test_verifier_from_env_with_redis_down_returns_before_the_connection_timeout(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    """What create_app does with COGNITO_REVOCATIONS_URL: built before the default timeout."""
    default_timeout = inspect.signature(RedisRevocations).parameters["timeout"].default
    environ = {
        "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
        "COGNITO_CLIENT_ID": cognito_issuer.client_id,
        "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
        "COGNITO_REVOCATIONS_URL": f"redis://127.0.0.1:{closed_port()}/0",
    }
    started = time.monotonic()
    verifier = verifier_from_env(environ)
    elapsed = time.monotonic() - started
    assert isinstance(verifier.revocations, RedisRevocations)
    try:
        assert elapsed < default_timeout, f"built in {elapsed:.1f}s with Redis down"
        state = readiness.check(verifier)
        assert not state.ready
        assert state.reasons == ("revocation list not loaded yet",)
    finally:
        verifier.revocations.close()


# -- keys -----------------------------------------------------------------------------------------


def test_ready_when_the_keys_can_be_fetched(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    verifier = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    assert cognito_jwks_server.request_count() == 0
    state = readiness.check(verifier)
    assert state == readiness.Readiness(True, ())
    assert state and state.status_code == 200
    assert state.as_dict() == {"ready": True, "reasons": []}
    assert cognito_jwks_server.request_count() == 1  # "loadable" means fetched, once
    readiness.check(verifier)
    assert cognito_jwks_server.request_count() == 1  # cached keys: no I/O
    verifier.verify(cognito_issuer.access_token())  # and the keys it fetched serve requests


def test_not_ready_when_the_jwks_endpoint_fails_and_no_fetch_during_the_back_off(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    verifier = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    state = readiness.check(verifier)
    assert not state and state.status_code == 503
    (reason,) = state.reasons
    assert reason.startswith(f"signing keys of {verifier.issuers[0]} not available: ")
    assert "HTTP 500" in reason
    fetches = cognito_jwks_server.request_count()
    assert readiness.check(verifier).reasons == state.reasons  # answered from the back-off
    assert cognito_jwks_server.request_count() == fetches


@pytest.mark.anyio
async def test_acheck_fetches_the_keys_on_the_event_loop(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    verifier = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    cognito_jwks_server.status = 503
    down = await readiness.acheck(verifier)
    assert not down.ready and "HTTP 503" in down.reasons[0]
    cognito_jwks_server.status = 200
    fresh = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    assert await readiness.acheck(fresh) == readiness.Readiness(True, ())


# -- the revocation list --------------------------------------------------------------------------


def test_revocation_list_loaded_then_stale_when_redis_stops(cognito_issuer: LocalIssuer) -> None:
    server = redis_server_or_skip()
    clock = ManualClock(time.time())
    verifier = cognito_issuer.verifier()
    try:
        with RedisRevocations(server.url, max_staleness=30, clock=clock) as revocations:
            verifier.revocations = revocations
            assert revocations.wait_synced()
            assert readiness.check(verifier).ready
            server.stop()
            clock.advance(31)  # no sync can succeed any more: the copy ages past the bound
            state = readiness.check(verifier)
            assert not state.ready
            (reason,) = state.reasons
            assert reason.startswith("revocation list stale: last synchronised ")
            assert reason.endswith("s ago (max_staleness 30s)")
    finally:
        server.close()


def test_a_list_that_fails_open_or_lives_in_memory_counts_as_ready(
    cognito_issuer: LocalIssuer,
) -> None:
    verifier = cognito_issuer.verifier()
    verifier.revocations = MemoryRevocations()
    assert readiness.check(verifier).ready
    url = f"redis://127.0.0.1:{closed_port()}/0"
    with RedisRevocations(url, on_unavailable="fail_open", start_timeout=0.1) as revocations:
        verifier.revocations = revocations
        assert readiness.check(verifier).ready  # it serves, accepting tokens: "ready"


def test_the_list_becomes_ready_once_redis_is_up(cognito_issuer: LocalIssuer) -> None:
    server = redis_server_or_skip()
    server.stop()  # Redis down at start
    try:
        verifier = cognito_issuer.verifier()
        with RedisRevocations(server.url, resync_interval=0.1, max_staleness=5) as revocations:
            verifier.revocations = revocations
            assert readiness.check(verifier).reasons == ("revocation list not loaded yet",)
            server.start()
            wait_for(lambda: readiness.check(verifier).ready)
    finally:
        server.close()


# -- the session store ----------------------------------------------------------------------------


def test_session_store_up_down_and_its_password_never_shown(
    cognito_issuer: LocalIssuer, redis_with_password: RedisServer
) -> None:
    verifier = cognito_issuer.verifier()
    key = Fernet.generate_key()
    store = RedisSessionStore(redis_with_password.url, encryption_key=key)
    sign_in = sign_in_with(verifier, store)
    try:
        assert readiness.check(verifier, sign_in).ready
        redis_with_password.stop()
        state = readiness.check(verifier, sign_in)
        assert not state.ready
        (reason,) = state.reasons
        assert reason == "session store unreachable (ConnectionError)"
    finally:
        store.close()


@pytest.mark.anyio
async def test_session_store_that_never_answers_is_bounded_by_the_probe_timeout(
    cognito_issuer: LocalIssuer,
) -> None:
    """A server that accepts the connection and never answers (a black hole): the probe gives
    up after its own timeout, not the store's, in both forms."""
    store_timeout = 30.0
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the backlog; nothing is ever read
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        store = RedisSessionStore(url, encryption_key=Fernet.generate_key(), timeout=store_timeout)
        sign_in = sign_in_with(cognito_issuer.verifier(), store)
        started = time.monotonic()
        state = readiness.check(sign_in.verifier, sign_in, timeout=0.2)
        again = await readiness.acheck(sign_in.verifier, sign_in, timeout=0.2)
        elapsed = time.monotonic() - started
        assert elapsed < store_timeout
        assert state.reasons == ("session store did not answer within 0.2s",)
        assert again.reasons == state.reasons


def test_memory_session_store_and_bad_timeouts(cognito_issuer: LocalIssuer) -> None:
    verifier = cognito_issuer.verifier()
    assert readiness.check(verifier, sign_in_with(verifier, MemorySessionStore())).ready
    for bad in (0, -1, "1", True):
        with pytest.raises(ConfigurationError, match="timeout must be a number of seconds > 0"):
            readiness.check(verifier, timeout=bad)  # type: ignore[arg-type]


def test_every_reason_at_once_and_none_shows_the_redis_url(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer, redis_with_password: RedisServer
) -> None:
    cognito_jwks_server.status = 500
    verifier = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    store = RedisSessionStore(redis_with_password.url, encryption_key=Fernet.generate_key())
    sign_in = sign_in_with(verifier, store)
    redis_with_password.stop()
    try:
        with RedisRevocations(redis_with_password.url, start_timeout=0.1) as revocations:
            verifier.revocations = revocations
            state = readiness.check(verifier, sign_in)
        assert [reason.split(" ")[0] for reason in state.reasons] == [
            "signing",
            "revocation",
            "session",
        ]
        assert not any(PASSWORD in reason for reason in state.reasons)
        assert not any(str(redis_with_password.port) in reason for reason in state.reasons)
    finally:
        store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_pings_again_rather_than_wait_for_its_parents_ping(
    cognito_issuer: LocalIssuer, cognito_redis_url: str
) -> None:
    """gunicorn --preload: a probe's ping still in flight at the fork never lands in the worker
    (its thread is not there); the worker's probes must send their own."""
    store = RedisSessionStore(cognito_redis_url, encryption_key=Fernet.generate_key())
    sign_in = sign_in_with(cognito_issuer.verifier(), store)
    pauser = redis.Redis.from_url(cognito_redis_url)
    try:
        pauser.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # every command waits 1.5 s
        assert not readiness.check(sign_in.verifier, sign_in, timeout=0.1).ready  # in flight
        with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                code = 0 if readiness.check(sign_in.verifier, sign_in, timeout=10).ready else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        pauser.close()
        store.close()
