"""The key store against a real JWKS server on loopback: rotation, outage, floods, single flight."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import os
import threading
import time
import warnings
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import (
    CognitoVerifier,
    ExpiredTokenError,
    KeyPolicy,
    KeysUnavailableError,
    UnknownKeyError,
)
from cognito_guard.testing import JWKSServer, LocalIssuer, ManualClock

from ._key_support import verify_in_threads, wait_until_landed, warm


@pytest.fixture
def issuer(cognito_signing_keys: list[RSAPrivateKey], clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=clock)


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with issuer.serve() as running:
        yield running


POLICY = KeyPolicy(ttl=600, unknown_kid_cooldown=30, stale_if_error=3600, backoff_initial=5)


def make_verifier(issuer: LocalIssuer, server: JWKSServer, **options: object) -> CognitoVerifier:
    options.setdefault("jwks_uri", server.jwks_uri)
    options.setdefault("key_policy", POLICY)
    options.setdefault("token_cache_size", 0)
    return issuer.verifier(**options)


def test_keys_are_fetched_once_and_reused(issuer: LocalIssuer, server: JWKSServer) -> None:
    verifier = make_verifier(issuer, server)
    for _ in range(5):
        assert verifier.verify(issuer.access_token()).token_use == "access"
    assert server.request_count() == 1


@pytest.mark.anyio
async def test_async_fetch_then_reuse(issuer: LocalIssuer, server: JWKSServer) -> None:
    verifier = make_verifier(issuer, server, token_use="id")
    for _ in range(3):
        assert (await verifier.averify(issuer.id_token())).username == "alice"
    assert server.request_count() == 1


def test_rotation_new_kid_triggers_one_refetch(issuer: LocalIssuer, server: JWKSServer) -> None:
    verifier = make_verifier(issuer, server)
    verifier.verify(issuer.access_token())
    issuer.rotate()  # right after a fetch: a missing kid is fetched for at once
    claims = verifier.verify(issuer.access_token())
    assert claims.sub
    assert server.request_count() == 2


def test_removed_key_stops_verifying_after_ttl(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server, token_cache_size=100)
    old_kid = issuer.access_key.kid
    old_token = issuer.access_token(expires_in=7200)
    verifier.verify(old_token)
    issuer.rotate()
    issuer.retire(old_kid)
    verifier.verify(old_token)  # still fresh: the cached JWKS has the old key
    clock.now += POLICY.ttl + 1
    # TTL passed: the lookup that finds it so is served from the cached JWKS while the refresh
    # runs (stale-while-revalidate); once the refreshed JWKS lands, the key is gone, cache or not.
    verifier.verify(old_token)
    wait_until_landed(verifier)
    with pytest.raises(UnknownKeyError):
        verifier.verify(old_token)
    # The refresh, and the one fetch a kid missing from a fresh JWKS gets (then the cool-down).
    assert server.request_count() == 3


def test_without_stale_if_error_the_ttl_is_a_hard_bound(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    policy = KeyPolicy(ttl=600, stale_if_error=0)
    verifier = make_verifier(issuer, server, key_policy=policy, token_cache_size=100)
    old_kid = issuer.access_key.kid
    old_token = issuer.access_token(expires_in=7200)
    verifier.verify(old_token)
    issuer.rotate()
    issuer.retire(old_kid)
    clock.now += policy.ttl
    with pytest.raises(UnknownKeyError):
        verifier.verify(old_token)  # no key past the TTL: this lookup waited for the refresh
    assert server.request_count() == 2


def test_unknown_kid_flood_fetches_at_most_once_per_cooldown(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server)
    verifier.verify(issuer.access_token())
    clock.now += POLICY.unknown_kid_cooldown
    for n in range(200):
        token = issuer.access_token(header={"kid": f"random-{n}"})
        with pytest.raises(UnknownKeyError):
            verifier.verify(token)
    assert server.request_count() == 2  # the initial fetch and one for the whole flood
    clock.now += POLICY.unknown_kid_cooldown
    with pytest.raises(UnknownKeyError):
        verifier.verify(issuer.access_token(header={"kid": "random-again"}))
    assert server.request_count() == 3


def test_outage_serves_stale_keys_then_fails_closed(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server)
    verifier.verify(issuer.access_token())
    server.status = 500
    clock.now += POLICY.ttl + 1  # keys are stale; the refresh fails; stale keys still serve
    assert verifier.verify(issuer.access_token()).sub
    wait_until_landed(verifier)
    assert verifier.verify(issuer.access_token()).sub  # after the failure too
    assert server.request_count() == 2
    clock.now += POLICY.stale_if_error  # beyond the stale window: no keys at all
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(issuer.access_token())
    assert caught.value.status_code == 503
    assert caught.value.retry_after >= 1


def test_cold_outage_fails_fast_with_backoff_then_recovers(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server)
    server.status = 503
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token())
    for _ in range(20):  # inside the back-off window: no new request reaches the server
        with pytest.raises(KeysUnavailableError) as caught:
            verifier.verify(issuer.access_token())
    assert caught.value.retry_after == POLICY.backoff_initial
    assert server.request_count() == 1
    clock.now += POLICY.backoff_initial
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token())  # second failure: back-off doubles
    assert server.request_count() == 2
    server.status = 200
    clock.now += POLICY.backoff_initial  # still backing off (10 s after the 2nd failure)
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token())
    clock.now += POLICY.backoff_initial
    assert verifier.verify(issuer.access_token()).sub  # recovered by itself
    assert server.request_count() == 3


def test_unreachable_primary_falls_back_to_replica(issuer: LocalIssuer, server: JWKSServer) -> None:
    with issuer.serve() as dead:
        dead_uri = dead.jwks_uri
    verifier = make_verifier(
        issuer, server, jwks_fallback_uris=[server.jwks_uri], jwks_uri=dead_uri
    )
    assert verifier.verify(issuer.access_token()).sub
    assert server.request_count() == 1


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"keys": "no"}', b'{"keys": []}', b'{"keys": [{"kty": "EC"}]}'],
    ids=["not-json", "array", "keys-not-list", "no-keys", "no-usable-key"],
)
def test_bad_jwks_documents_count_as_outage(
    issuer: LocalIssuer, server: JWKSServer, body: bytes
) -> None:
    server.body = body
    with pytest.raises(KeysUnavailableError):
        make_verifier(issuer, server).verify(issuer.access_token())


def test_oversized_jwks_is_refused(issuer: LocalIssuer, server: JWKSServer) -> None:
    jwks = issuer.jwks
    jwks["padding"] = "x" * 70_000
    server.body = json.dumps(jwks).encode()
    with pytest.raises(KeysUnavailableError):
        make_verifier(issuer, server).verify(issuer.access_token())
    server.body = None
    small = make_verifier(issuer, server, key_policy=KeyPolicy(max_bytes=4096))
    assert small.verify(issuer.access_token()).sub


def test_slow_jwks_times_out(issuer: LocalIssuer, server: JWKSServer) -> None:
    server.delay = 1.0
    verifier = make_verifier(issuer, server, key_policy=KeyPolicy(timeout=0.2))
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token())


def test_redirects_are_not_followed(issuer: LocalIssuer, server: JWKSServer) -> None:
    from cognito_guard.testing import LoopbackServer, Response

    redirect = LoopbackServer(
        fallback=lambda _req: Response(302, b"", {"Location": server.jwks_uri})
    )
    with redirect:
        verifier = issuer.verifier(jwks_uri=redirect.url + "/jwks.json")
        with pytest.raises(KeysUnavailableError):
            verifier.verify(issuer.access_token())
    assert server.request_count() == 0


def test_single_flight_threads(issuer: LocalIssuer, server: JWKSServer) -> None:
    server.delay = 0.2  # keep the first fetch in flight while the others arrive
    verifier = make_verifier(issuer, server)
    token = issuer.access_token()
    results = verify_in_threads(verifier, token, 100)
    assert len(results) == 100
    assert all(isinstance(r, str) and r for r in results), results[:3]
    assert server.request_count() == 1


@pytest.mark.anyio
async def test_single_flight_coroutines(issuer: LocalIssuer, server: JWKSServer) -> None:
    server.delay = 0.2
    # Single flight is the subject, not max_wait: a loaded machine must not turn the wait of 1000
    # coroutines for one slow fetch into 503s.
    policy = dataclasses.replace(POLICY, max_wait=30.0)
    verifier = make_verifier(issuer, server, key_policy=policy)
    token = issuer.access_token()
    results = await asyncio.gather(*(verifier.averify(token) for _ in range(1000)))
    assert {claims.sub for claims in results} == {results[0].sub}
    assert server.request_count() == 1


@pytest.mark.anyio
async def test_averify_does_not_block_the_event_loop(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    server.delay = 0.5
    verifier = make_verifier(issuer, server)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await verifier.averify(issuer.access_token())
    task.cancel()
    # A blocking fetch would freeze the loop for the whole 0.5 s delay and the ticker with it.
    assert ticks >= 5


@pytest.mark.anyio
async def test_cancelled_waiter_does_not_cancel_the_shared_fetch(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    server.delay = 0.3
    verifier = make_verifier(issuer, server)
    token = issuer.access_token()
    first = asyncio.create_task(verifier.averify(token))
    second = asyncio.create_task(verifier.averify(token))
    await asyncio.sleep(0.05)
    first.cancel()
    assert (await second).sub
    with pytest.raises(asyncio.CancelledError):
        await first
    assert server.request_count() == 1


def test_stale_keys_serve_while_a_refresh_is_in_flight(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server)
    token = issuer.access_token()
    verifier.verify(token)
    clock.now += POLICY.ttl + 1
    server.delay = 0.5
    assert verifier.verify(token).sub  # starts the refresh
    while server.request_count() < 2:  # the refresh request has reached the server
        threading.Event().wait(0.01)
    store = verifier.key_store(verifier.issuers[0])
    assert store._flights.current is not None  # the refresh is still waiting for its answer
    assert verifier.verify(token).sub  # served from the stale keys, without waiting
    wait_until_landed(verifier)
    assert server.request_count() == 2


class FailingTransport(httpx.BaseTransport):
    """A fault that cannot be real on loopback: the connection resets mid-request."""

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise httpx.ReadError("connection reset by peer", request=request)


def test_transport_errors_become_keys_unavailable(issuer: LocalIssuer) -> None:
    transport = FailingTransport()
    verifier = issuer.verifier(
        jwks_uri="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123/.well-known/jwks.json",
        transport=transport,
    )
    with pytest.raises(KeysUnavailableError):
        verifier.verify(issuer.access_token())
    assert transport.calls == 1


def test_single_flight_across_event_loops_and_threads(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    """Flask and asgiref run each async view on a loop of its own: they must still share a fetch."""
    server.delay = 0.3
    verifier = make_verifier(issuer, server)
    token = issuer.access_token()
    barrier = threading.Barrier(16)
    results: list[object] = []

    def on_own_loop() -> None:
        barrier.wait()
        results.append(asyncio.run(verifier.averify(token)).sub)

    def blocking() -> None:
        barrier.wait()
        results.append(verifier.verify(token).sub)

    threads = [threading.Thread(target=on_own_loop) for _ in range(8)]
    threads += [threading.Thread(target=blocking) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 16 and len(set(results)) == 1
    assert server.request_count() == 1


SLOW = KeyPolicy(ttl=600, unknown_kid_cooldown=30, backoff_initial=5, max_wait=0.2)


def test_a_request_waits_at_most_max_wait_and_the_fetch_goes_on(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    old_token = issuer.access_token()
    warm(verifier, old_token)
    issuer.rotate()
    new_token = issuer.access_token()
    server.delay = 0.6  # longer than max_wait, shorter than the HTTP timeout
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(new_token)
    assert caught.value.retry_after == 1
    assert "max_wait" in str(caught.value)
    assert verifier.verify(old_token).sub  # a cached key is served while the fetch is under way
    wait_until_landed(verifier)
    assert verifier.verify(new_token).sub  # the fetch that outlived the request brought the key
    assert server.request_count() == 2


@pytest.mark.anyio
async def test_async_request_waits_at_most_max_wait_and_the_fetch_goes_on(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    await asyncio.to_thread(warm, verifier, issuer.access_token())
    issuer.rotate()
    token = issuer.access_token()
    server.delay = 0.6
    with pytest.raises(KeysUnavailableError) as caught:
        await verifier.averify(token)
    assert caught.value.retry_after == 1
    store = verifier.key_store(verifier.issuers[0])
    assert store._flights.task is not None
    await store._flights.task  # the fetch was not cancelled with the request that started it
    assert (await verifier.averify(token)).sub
    assert server.request_count() == 2


def test_a_fetch_cancelled_with_its_event_loop_counts_as_failed(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    """A loop per request (Flask's async views) closes on the 503: the next fetch backs off."""
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    token = issuer.access_token()
    server.delay = 0.6
    with pytest.raises(KeysUnavailableError):
        asyncio.run(verifier.averify(token))
    store = verifier.key_store(verifier.issuers[0])
    assert store._flights.current is None  # landed by the cancellation: nobody waits on it forever
    server.delay = 0
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(token)  # inside the back-off: no new fetch, and a 503, not a 401
    assert caught.value.retry_after >= 1
    assert server.request_count() == 1
    clock.now += SLOW.backoff_initial
    assert verifier.verify(token).sub
    assert server.request_count() == 2


# -- a TTL refresh costs no request (stale-while-revalidate) ---------------------------------------

# Longer than SLOW.max_wait, so that a request waiting for the refresh would get a 503; shorter than
# the HTTP timeout, so that the refresh succeeds.
SLOW_REFRESH = 1.0


def due_for_refresh(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> tuple[CognitoVerifier, str, str]:
    """A verifier whose keys are past their TTL just after a rotation (the new key is published
    before the refresh, so the refresh brings it): the verifier, a token signed with the old
    key and one with the new."""
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    old_token = issuer.access_token(expires_in=7200)
    warm(verifier, old_token)
    issuer.rotate()
    new_token = issuer.access_token(expires_in=7200)
    clock.now += SLOW.ttl + 1
    return verifier, old_token, new_token


def test_a_ttl_refresh_runs_in_the_background_and_brings_new_keys(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier, old_token, new_token = due_for_refresh(issuer, server, clock)
    server.delay = SLOW_REFRESH
    assert verifier.verify(old_token).sub  # its key is cached: no wait, no 503
    store = verifier.key_store(verifier.issuers[0])
    assert store._flights.current is not None  # it returned with the refresh still under way
    assert verifier.verify(old_token).sub  # and so do the requests after it
    wait_until_landed(verifier)
    assert verifier.verify(new_token).sub  # the refresh brought the new key: no fetch of its own
    assert server.request_count() == 2  # the start-up fetch and the one refresh


def test_an_expired_token_during_a_slow_ttl_refresh_is_401_not_503(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    expired = issuer.access_token(expires_in=60)
    warm(verifier, expired)
    clock.now += SLOW.ttl + 1
    server.delay = SLOW_REFRESH
    with pytest.raises(ExpiredTokenError) as caught:
        verifier.verify(expired)  # it finds the JWKS past its TTL and starts the refresh
    assert caught.value.status_code == 401
    assert caught.value.error_code == "invalid_token"
    wait_until_landed(verifier)
    assert server.request_count() == 2


@pytest.mark.anyio
async def test_async_ttl_refresh_runs_in_the_background_and_brings_new_keys(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    old_token = issuer.access_token(expires_in=7200)
    expired = issuer.access_token(expires_in=60)
    await asyncio.to_thread(warm, verifier, old_token)
    issuer.rotate()
    new_token = issuer.access_token(expires_in=7200)
    clock.now += SLOW.ttl + 1
    server.delay = SLOW_REFRESH
    with pytest.raises(ExpiredTokenError) as caught:
        await verifier.averify(expired)  # starts the refresh, and gets its own verdict at once
    assert caught.value.status_code == 401
    assert (await verifier.averify(old_token)).sub
    store = verifier.key_store(verifier.issuers[0])
    assert (
        store._flights.task is not None and not store._flights.task.done()
    )  # the refresh is a task
    await store._flights.task
    assert (await verifier.averify(new_token)).sub
    assert server.request_count() == 2


def test_a_ttl_refresh_outlives_the_event_loop_of_its_request(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    """A loop per request (Flask's async views) cancels the refresh task: a thread finishes it."""
    verifier, old_token, new_token = due_for_refresh(issuer, server, clock)
    server.delay = SLOW_REFRESH
    assert asyncio.run(verifier.averify(old_token)).sub  # its loop is closed when it returns
    store = verifier.key_store(verifier.issuers[0])
    assert store._flights.current is not None  # the refresh goes on without the loop
    wait_until_landed(verifier)
    assert asyncio.run(verifier.averify(new_token)).sub
    assert server.request_count() == 2
    assert store._failures == 0  # finished, not given up as a failed fetch


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_refresh_stranded_on_a_loop_closed_without_cancelling_it_is_taken_over(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    """A loop run by hand and closed with its tasks pending: the next lookup saves the refresh."""
    verifier, old_token, new_token = due_for_refresh(issuer, server, clock)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(verifier.averify(old_token)).sub
    finally:
        loop.close()  # the refresh task is left pending: it never runs again
    store = verifier.key_store(verifier.issuers[0])
    stranded = store._flights.task
    assert stranded is not None and not stranded.done()
    assert verifier.verify(old_token).sub  # served; a thread takes the refresh over
    wait_until_landed(verifier)
    assert verifier.verify(new_token).sub
    assert server.request_count() == 2
    # A task left pending on a closed loop fails when collected (its httpx client cannot close
    # without a loop): collected here, where that is expected, not in some later test.
    del stranded, store, verifier
    gc.collect()


def test_threads_are_not_held_by_a_slow_ttl_refresh(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    token = issuer.access_token(expires_in=7200)
    warm(verifier, token)
    clock.now += SLOW.ttl + 1
    server.delay = SLOW_REFRESH
    results = verify_in_threads(verifier, token, 16)
    assert len(results) == 16 and all(isinstance(r, str) and r for r in results), results[:3]
    wait_until_landed(verifier)
    assert server.request_count() == 2


def test_an_unknown_kid_past_the_ttl_still_waits_for_the_refresh(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    policy = KeyPolicy(ttl=600, max_wait=10)
    verifier = make_verifier(issuer, server, key_policy=policy)
    verifier.verify(issuer.access_token())
    issuer.rotate()
    new_token = issuer.access_token()
    clock.now += policy.ttl + 1
    server.delay = 0.3  # well within max_wait: the waiting request gets the key
    assert verifier.verify(new_token).sub  # not cached: it waited for the fetch that brings it
    assert server.request_count() == 2


def test_keys_past_the_stale_bound_are_not_served_while_a_slow_refresh_runs(
    issuer: LocalIssuer, server: JWKSServer, clock: ManualClock
) -> None:
    policy = KeyPolicy(ttl=600, stale_if_error=60, max_wait=0.2)
    verifier = make_verifier(issuer, server, key_policy=policy)
    token = issuer.access_token(expires_in=7200)
    verifier.verify(token)
    clock.now += policy.ttl + policy.stale_if_error
    server.delay = SLOW_REFRESH
    started = time.monotonic()
    with pytest.raises(KeysUnavailableError) as caught:
        verifier.verify(token)  # beyond ttl + stale_if_error: it waits for the refresh
    assert time.monotonic() - started >= policy.max_wait
    assert caught.value.retry_after == 1
    wait_until_landed(verifier)
    assert verifier.verify(token).sub
    assert server.request_count() == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_worker_forked_during_a_fetch_fetches_for_itself(
    issuer: LocalIssuer, server: JWKSServer
) -> None:
    """gunicorn --preload: the master's fetch thread is not in the worker; the worker must not
    wait on that fetch for good, but start its own."""
    server.delay = 1.0
    verifier = make_verifier(issuer, server, key_policy=SLOW)
    token = issuer.access_token()
    with pytest.raises(KeysUnavailableError):
        verifier.verify(token)  # max_wait passes; the fetch goes on, on its own thread
    with warnings.catch_warnings():  # Python 3.12+ warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the worker
        code = 1
        try:
            for _ in range(100):
                try:
                    verifier.verify(token)
                    code = 0
                    break
                except KeysUnavailableError:
                    threading.Event().wait(0.1)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
