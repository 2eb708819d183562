"""A RedisRevocations list found stale at a check catches up in the caller (one read of the
whole list from Redis), then judges: no 503 merely because its thread did not run.

A ManualClock moved past ``max_staleness`` stands for the time the thread did not run (a frozen
process); the thread's own re-syncs are spaced by a wall-clock ``resync_interval`` longer than
each test. tests/integration/test_revocation_freeze.py freezes a real process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from cognito_guard import RevocationsUnavailableError, RevokedTokenError
from cognito_guard.revocation import RedisRevocations, Revocation
from cognito_guard.testing import LocalIssuer, ManualClock, RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

SLOW_THREAD = {"resync_interval": 30.0, "max_staleness": 60.0}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
def issuer(cognito_issuer: LocalIssuer, clock: ManualClock) -> LocalIssuer:
    cognito_issuer.clock = clock
    return cognito_issuer


@pytest.fixture
def make_list(
    cognito_redis_url: str, clock: ManualClock
) -> Iterator[Callable[..., RedisRevocations]]:
    made: list[RedisRevocations] = []

    def make(url: str = cognito_redis_url, **options: object) -> RedisRevocations:
        revocations = RedisRevocations(url, clock=clock, **{**SLOW_THREAD, **options})  # type: ignore[arg-type]
        made.append(revocations)
        assert revocations.wait_synced()
        return revocations

    yield make
    for revocations in made:
        revocations.close()


def write_without_message(url: str, entry: Revocation) -> None:
    """An entry the list's thread hears nothing of (no message, no counter): only a full read
    finds it."""
    raw = redis.Redis.from_url(url)
    try:
        raw.zadd("cognito_guard:revocations", {entry.member: entry.expires})
    finally:
        raw.close()


def test_a_stale_list_reads_redis_in_the_caller_then_judges(
    issuer: LocalIssuer,
    make_list: Callable[..., RedisRevocations],
    cognito_redis_url: str,
    clock: ManualClock,
) -> None:
    revocations = make_list()
    verifier = issuer.verifier(revocations=revocations, token_cache_size=100)
    good = issuer.access_token(username="good")
    doomed_claims = issuer.access_token_claims(username="doomed")
    doomed = issuer.sign(doomed_claims)
    for token in (good, doomed):
        verifier.verify(token)
    entry = Revocation("origin_jti", doomed_claims["origin_jti"], clock.now + 3600)
    write_without_message(cognito_redis_url, entry)
    clock.advance(SLOW_THREAD["max_staleness"] + 1)  # the thread "did not run" meanwhile
    with pytest.raises(RevokedTokenError):
        verifier.verify(doomed)  # a cache hit: the revocation is checked all the same
    assert revocations.catch_ups == 1 and revocations.last_sync == clock.now
    assert verifier.verify(good).sub  # current now: no other read
    assert revocations.catch_ups == 1


def test_checks_of_a_stale_list_at_once_share_one_catch_up(
    issuer: LocalIssuer, make_list: Callable[..., RedisRevocations], clock: ManualClock
) -> None:
    revocations = make_list()
    verifier = issuer.verifier(revocations=revocations)
    token = issuer.access_token()
    verifier.verify(token)
    clock.advance(SLOW_THREAD["max_staleness"] + 1)
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def check() -> None:
        start.wait()
        try:
            verifier.verify(token)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert revocations.catch_ups == 1  # the others waited for it, or found the list current


@pytest.mark.parametrize("client", ["asyncio client", "sync client only"])
def test_averify_catches_up_without_blocking_the_event_loop(
    issuer: LocalIssuer,
    make_list: Callable[..., RedisRevocations],
    cognito_redis_url: str,
    clock: ManualClock,
    client: str,
) -> None:
    raw = redis.Redis.from_url(cognito_redis_url)
    if client == "sync client only":  # the read runs on a thread
        revocations = RedisRevocations(client=raw, clock=clock, **SLOW_THREAD)  # type: ignore[arg-type]
    else:
        revocations = make_list()
    try:
        assert revocations.wait_synced()
        verifier = issuer.verifier(revocations=revocations)
        claims = issuer.access_token_claims()
        token = issuer.sign(claims)

        async def main() -> list[str]:
            await verifier.averify(token)
            entry = Revocation("jti", claims["jti"], clock.now + 3600)
            write_without_message(cognito_redis_url, entry)
            clock.advance(SLOW_THREAD["max_staleness"] + 1)
            ticks = 0

            async def ticker() -> None:  # runs only while the loop is free
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            ticking = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            try:
                await verifier.averify(token)
            except RevokedTokenError:
                verdict = "revoked"
            else:
                verdict = "accepted"
            ticking.cancel()
            return [verdict, "loop ran" if ticks > 1 else "loop blocked"]

        assert asyncio.run(main()) == ["revoked", "loop ran"]
        assert revocations.catch_ups == 1
    finally:
        revocations.close()
        raw.close()


@pytest.fixture
def outage_server() -> Iterator[RedisServer]:
    server = redis_server_or_skip()
    yield server
    server.close()


def test_a_failed_catch_up_is_judged_and_not_retried_by_every_check(
    issuer: LocalIssuer, outage_server: RedisServer, clock: ManualClock
) -> None:
    with RedisRevocations(outage_server.url, clock=clock, **SLOW_THREAD) as revocations:  # type: ignore[arg-type]
        assert revocations.wait_synced()
        verifier = issuer.verifier(revocations=revocations)
        token = issuer.access_token()
        verifier.verify(token)
        outage_server.stop()
        clock.advance(SLOW_THREAD["max_staleness"] + 1)
        for _ in range(5):
            with pytest.raises(RevocationsUnavailableError) as caught:
                verifier.verify(token)
            assert caught.value.status_code == 503
        # One check tried Redis; the others within the back-off judged at once.
        assert revocations.failed_catch_ups == 1 and revocations.catch_ups == 0
        outage_server.start()
        deadline = time.monotonic() + 10
        while True:  # back: the thread's reconnect, or a check after the back-off, syncs
            try:
                assert verifier.verify(token).sub
                break
            except RevocationsUnavailableError:
                assert time.monotonic() < deadline
                time.sleep(0.05)


def test_a_closed_list_does_not_reach_for_redis(
    issuer: LocalIssuer, make_list: Callable[..., RedisRevocations], clock: ManualClock
) -> None:
    revocations = make_list()
    verifier = issuer.verifier(revocations=revocations)
    revocations.close()
    clock.advance(SLOW_THREAD["max_staleness"] + 1)
    with pytest.raises(RevocationsUnavailableError):
        verifier.verify(issuer.access_token())
    assert revocations.catch_ups == 0 and revocations.failed_catch_ups == 0
