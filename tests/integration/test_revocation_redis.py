"""RedisRevocations against a real Redis-compatible server: propagation, faults, bad data.

Every wait polls for a condition with a bounded deadline; nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    RevocationsUnavailableError,
    RevokedTokenError,
)
from cognito_guard.revocation import RedisRevocations, Revocation
from cognito_guard.testing import LocalIssuer, ManualClock, RedisServer
from cognito_guard.testing.pytest_plugin import redis_server_or_skip

from .._polling import wait_for

FAST = {"resync_interval": 0.1, "max_staleness": 30.0}


def refused(verify: Callable[[], object]) -> bool:
    try:
        verify()
    except RevokedTokenError:
        return True
    return False


@pytest.fixture
def lists(cognito_redis_url: str) -> Iterator[Callable[..., RedisRevocations]]:
    made: list[RedisRevocations] = []

    def make(url: str = cognito_redis_url, **options: object) -> RedisRevocations:
        merged = {**FAST, **options}
        revocations = RedisRevocations(url, **merged)  # type: ignore[arg-type]
        made.append(revocations)
        assert revocations.wait_synced()
        return revocations

    yield make
    for revocations in made:
        revocations.close()


@pytest.fixture
def outage_server() -> Iterator[RedisServer]:
    server = redis_server_or_skip()
    yield server
    server.close()


@pytest.mark.parametrize("kind", ["jti", "origin_jti", "sub"])
@pytest.mark.parametrize("path", ["full", "cache_hit", "averify"])
def test_a_revocation_in_one_list_is_honoured_by_another(
    cognito_issuer: LocalIssuer, lists: Callable[..., RedisRevocations], kind: str, path: str
) -> None:
    writer, reader = lists(), lists()
    verifier = cognito_issuer.verifier(
        revocations=reader, token_cache_size=0 if path == "full" else 100
    )
    token = cognito_issuer.access_token(issued_at=time.time() - 5)
    claims = verifier.verify(token)

    async def arevoke() -> None:
        if kind == "jti":
            await writer.arevoke_token(claims["jti"])
        elif kind == "origin_jti":
            await writer.arevoke_session(claims["origin_jti"])
        else:
            await writer.asign_out_user(claims.sub)
        await writer.aclose()  # its asyncio client belongs to this loop

    if path == "averify":
        asyncio.run(arevoke())
        wait_for(lambda: refused(lambda: asyncio.run(verifier.averify(token))))
    else:
        {
            "jti": lambda: writer.revoke_token(claims["jti"]),
            "origin_jti": lambda: writer.revoke_session(claims["origin_jti"]),
            "sub": lambda: writer.sign_out_user(claims.sub),
        }[kind]()
        assert writer.is_revoked(claims)  # the writer's own copy at once
        wait_for(lambda: refused(lambda: verifier.verify(token)))
    assert verifier.verify(cognito_issuer.access_token(username="bob")).username == "bob"


def test_a_list_started_later_loads_what_is_in_redis(
    lists: Callable[..., RedisRevocations],
) -> None:
    lists().revoke_session("o-early")
    later = lists()
    assert later.is_revoked({"origin_jti": "o-early"})
    assert [(e.kind, e.id) for e in later.entries()] == [("origin_jti", "o-early")]


def test_a_flushed_redis_does_not_unrevoke_anything(
    cognito_redis_server: RedisServer, lists: Callable[..., RedisRevocations]
) -> None:
    writer, reader = lists(), lists()
    writer.revoke_token("j-flush")
    wait_for(lambda: reader.is_revoked({"jti": "j-flush"}))
    cognito_redis_server.flushall()
    syncs = reader.syncs
    wait_for(lambda: reader.syncs > syncs + 1)
    assert reader.is_revoked({"jti": "j-flush"})
    assert writer.is_revoked({"jti": "j-flush"})
    # Only Redis persistence protects a process started after the flush (see the docs).
    assert not lists().is_revoked({"jti": "j-flush"})


def test_the_resync_catches_an_entry_whose_message_was_lost(
    cognito_redis_url: str, lists: Callable[..., RedisRevocations]
) -> None:
    reader = lists()
    lost = Revocation("origin_jti", "o-lost", time.time() + 3600)
    bypass = Revocation("jti", "j-bypass", time.time() + 3600)
    raw = redis.Redis.from_url(cognito_redis_url)
    try:
        # A write whose message never arrived: the counter moved, no message came.
        raw.zadd("cognito_guard:revocations", {lost.member: lost.expires})
        raw.incr("cognito_guard:revocations:version")
        wait_for(lambda: reader.is_revoked({"origin_jti": "o-lost"}))
        # A write by another tool: no counter, no message; the periodic full read finds it.
        raw.zadd("cognito_guard:revocations", {bypass.member: bypass.expires})
        wait_for(lambda: reader.is_revoked({"jti": "j-bypass"}))
    finally:
        raw.close()


def test_a_quiet_list_is_not_read_in_full_at_every_resync(
    lists: Callable[..., RedisRevocations],
) -> None:
    writer, reader = lists(), lists()
    writer.revoke_token("j-quiet")
    wait_for(lambda: reader.is_revoked({"jti": "j-quiet"}))
    syncs = reader.syncs
    wait_for(lambda: reader.syncs >= syncs + 3)  # settled: a message in flight may cost a read
    loads, syncs = reader.loads, reader.syncs
    wait_for(lambda: reader.syncs >= syncs + 6)
    assert reader.loads - loads <= 1  # at most the every-12-re-syncs backstop


def test_malformed_entries_and_messages_are_ignored_and_logged_once(
    cognito_redis_url: str,
    lists: Callable[..., RedisRevocations],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cognito_guard")
    raw = redis.Redis.from_url(cognito_redis_url)
    good = Revocation("jti", "j-good", time.time() + 3600)
    try:
        raw.zadd(
            "cognito_guard:revocations",
            {
                "not json": 2e9,
                '["nope","x",null]': 2e9,
                '["sub","u",null]': 2e9,
                good.member: good.expires,
            },
        )
        reader = lists()
        assert reader.is_revoked({"jti": "j-good"})
        assert len(reader) == 1
        raw.publish("cognito_guard:revocations", b"\xff garbage")
        raw.publish("cognito_guard:revocations", b"\xff garbage")
        raw.publish("cognito_guard:revocations", b'["jti",7,null,2e9]')
        later = Revocation("jti", "j-after", time.time() + 3600)
        raw.publish("cognito_guard:revocations", later.message)
        wait_for(lambda: reader.is_revoked({"jti": "j-after"}))  # the thread survived them
        syncs = reader.syncs
        wait_for(lambda: reader.syncs > syncs + 2)
    finally:
        raw.close()
    bad = [r.getMessage() for r in caplog.records if "malformed revocation" in r.getMessage()]
    assert len(bad) == 5  # three members, two distinct messages: each once
    assert sum("garbage" in line for line in bad) == 1


def test_entries_expire_in_redis_and_locally(
    cognito_redis_url: str, lists: Callable[..., RedisRevocations]
) -> None:
    clock = ManualClock(time.time())
    revocations = lists(clock=clock, max_token_lifetime=300)
    revocations.revoke_token("j-old")
    raw = redis.Redis.from_url(cognito_redis_url)
    try:
        assert raw.zcard("cognito_guard:revocations") == 1
        assert 0 < raw.ttl("cognito_guard:revocations") <= 301  # rounded up to a second
        clock.advance(301)
        wait_for(lambda: revocations.entries() == [] and len(revocations) == 0)
        wait_for(lambda: raw.zcard("cognito_guard:revocations") == 0)
    finally:
        raw.close()


def test_redis_stopped_fail_closed_then_recovery(
    cognito_issuer: LocalIssuer, outage_server: RedisServer
) -> None:
    clock = ManualClock(time.time())
    cognito_issuer.clock = clock
    with RedisRevocations(
        outage_server.url, resync_interval=0.1, max_staleness=10, clock=clock
    ) as revocations:
        verifier = cognito_issuer.verifier(revocations=revocations, token_cache_size=100)
        revoked = cognito_issuer.access_token()
        fresh = cognito_issuer.access_token()
        verifier.verify(fresh)
        revocations.revoke_session(verifier.verify(revoked)["origin_jti"])
        outage_server.stop()
        verifier.verify(fresh)  # within max_staleness the local copy keeps serving
        clock.advance(11)
        with pytest.raises(RevocationsUnavailableError) as caught:
            verifier.verify(fresh)  # on the cache hit as on the full path
        assert caught.value.status_code == 503 and caught.value.retry_after >= 1
        with pytest.raises(RevokedTokenError):
            verifier.verify(revoked)  # what is known stays refused
        with pytest.raises(RevocationsUnavailableError, match="not recorded"):
            revocations.revoke_token("j-during-outage")
        assert revocations.is_revoked({"jti": "j-during-outage"})  # this process refuses it
        outage_server.start()  # back, empty, on the same port
        wait_for(lambda: _accepts(verifier, fresh))
        with pytest.raises(RevokedTokenError):
            verifier.verify(revoked)


def test_redis_stopped_fail_open_accepts_and_warns_once_per_outage(
    cognito_issuer: LocalIssuer, outage_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cognito_guard")
    clock = ManualClock(time.time())
    cognito_issuer.clock = clock
    with RedisRevocations(
        outage_server.url,
        resync_interval=0.1,
        max_staleness=10,
        on_unavailable="fail_open",
        clock=clock,
    ) as revocations:
        verifier = cognito_issuer.verifier(revocations=revocations)
        token = cognito_issuer.access_token()
        revoked = cognito_issuer.access_token()
        revocations.revoke_token(verifier.verify(revoked)["jti"])
        for _ in range(2):  # two outages, one warning each
            outage_server.stop()
            clock.advance(11)
            for _ in range(3):
                verifier.verify(token)
            with pytest.raises(RevokedTokenError):
                verifier.verify(revoked)
            outage_server.start()
            wait_for(lambda: revocations.last_sync == clock.now)
    warnings = [r for r in caplog.records if "fail_open" in r.getMessage()]
    assert len(warnings) == 2


def _accepts(verifier: object, token: str) -> bool:
    try:
        verifier.verify(token)  # type: ignore[attr-defined]
    except RevocationsUnavailableError:
        return False
    return True


def test_without_a_first_sync_fail_closed_refuses(cognito_issuer: LocalIssuer) -> None:
    server = redis_server_or_skip()
    url = server.url
    server.close()  # nothing listens on that port now
    with RedisRevocations(url, start_timeout=0.2, resync_interval=0.1) as revocations:
        assert revocations.last_sync is None
        verifier = cognito_issuer.verifier(revocations=revocations)
        with pytest.raises(RevocationsUnavailableError, match="never synchronised"):
            verifier.verify(cognito_issuer.access_token())


def test_credentials_never_show(
    cognito_issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cognito_guard")
    server = redis_server_or_skip(password="pw-hunter2", acl_user=("app", "acl-s3cret"))
    try:
        with RedisRevocations(server.acl_url(), **FAST) as revocations:  # type: ignore[arg-type]
            revocations.revoke_token("j-acl")
            assert "acl-s3cret" not in repr(revocations)
            server.stop()
            with pytest.raises(RevocationsUnavailableError) as caught:
                revocations.revoke_token("j-down")
            assert "acl-s3cret" not in str(caught.value)
            assert "app:***@" in str(caught.value)
        with pytest.raises(ConfigurationError):
            RedisRevocations("http://app:acl-s3cret@127.0.0.1:6379/0")
    finally:
        server.close()
    assert not any("acl-s3cret" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "options",
    [
        {"on_unavailable": "maybe"},
        {"max_staleness": 0},
        {"max_staleness": 5, "resync_interval": 5},
        {"max_token_lifetime": -1},
        {"prefix": "bad\nprefix"},
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RedisRevocations("redis://127.0.0.1:1/0", **options)  # type: ignore[arg-type]


def test_a_client_passed_in(cognito_redis_url: str) -> None:
    client = redis.Redis.from_url(cognito_redis_url)
    try:
        with RedisRevocations(client=client, **FAST) as revocations:  # type: ignore[arg-type]
            revocations.revoke_session("o-client")

            async def arevoke() -> None:  # no async client given: the write runs in a thread
                await revocations.arevoke_token("j-client")

            asyncio.run(arevoke())
            assert client.zcard("cognito_guard:revocations") == 2
        assert client.ping()  # a client passed in stays open
    finally:
        client.close()


LEAST_PRIVILEGE = (
    "on >api-pw ~cognito_guard:* &cognito_guard:* +zadd +zrangebyscore +zremrangebyscore "
    "+expireat +incrby +get +publish +subscribe +multi +exec +ping"
)


def test_the_least_privilege_acl_user_of_the_docs_is_enough(outage_server: RedisServer) -> None:
    admin = redis.Redis.from_url(outage_server.url)
    try:
        admin.execute_command("ACL", "SETUSER", "api", *LEAST_PRIVILEGE.split())
    finally:
        admin.close()
    url = f"redis://api:api-pw@127.0.0.1:{outage_server.port}/0"
    with (
        RedisRevocations(url, **FAST) as writer,  # type: ignore[arg-type]
        RedisRevocations(url, **FAST) as reader,  # type: ignore[arg-type]
    ):
        writer.revoke_session("o-acl")
        writer.sign_out_user("u-acl")
        wait_for(lambda: reader.is_revoked({"origin_jti": "o-acl"}))
        syncs = reader.syncs
        wait_for(lambda: reader.syncs > syncs + 1)  # re-syncs succeed with these rights
        assert reader.is_revoked({"sub": "u-acl", "iat": 0})


def test_settings_build_a_shared_list(cognito_issuer: LocalIssuer, cognito_redis_url: str) -> None:
    from cognito_guard.config import verifier_from_env, verifier_from_settings

    environ = {
        "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
        "COGNITO_CLIENT_ID": cognito_issuer.client_id,
        "COGNITO_REVOCATIONS_URL": cognito_redis_url,
    }
    verifier = verifier_from_env(environ, jwks=cognito_issuer.jwks)
    django_style = verifier_from_settings(
        {
            "USER_POOL_ID": cognito_issuer.user_pool_id,
            "CLIENT_ID": cognito_issuer.client_id,
            "REVOCATIONS_URL": cognito_redis_url,
        },
        source="COGNITO_GUARD",
        jwks=cognito_issuer.jwks,
    )
    lists = [v.revocations for v in (verifier, django_style)]
    try:
        assert all(isinstance(r, RedisRevocations) for r in lists)
        token = cognito_issuer.access_token()
        claims = verifier.verify(token)
        lists[1].revoke_session(claims["origin_jti"])  # type: ignore[union-attr]
        wait_for(lambda: refused(lambda: verifier.verify(token)))
    finally:
        for revocations in lists:
            revocations.close()  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="REVOCATIONS_URL"):
        verifier_from_env({**environ, "COGNITO_REVOCATIONS_URL": "memcached://x"})


@pytest.mark.anyio
async def test_an_adapter_answers_503_while_the_list_cannot_be_checked(
    cognito_issuer: LocalIssuer,
) -> None:
    import socket

    from fastapi import Depends, FastAPI

    from cognito_guard import CognitoClaims
    from cognito_guard.integrations.starlette import CognitoGuard, cognito_user
    from tests.adapters.matrix import asgi_client, bearer

    def create_app(verifier: CognitoVerifier) -> FastAPI:
        app = FastAPI()
        CognitoGuard(app, verifier=verifier)

        @app.get("/me")
        async def me(user: CognitoClaims = Depends(cognito_user)) -> dict[str, str]:  # noqa: B008
            return {"sub": user.sub}

        return app

    with socket.socket() as sock:  # a port where no Redis listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with RedisRevocations(f"redis://127.0.0.1:{port}/0", start_timeout=0.1) as revocations:
        app = create_app(cognito_issuer.verifier(revocations=revocations))
        async with asgi_client(app) as client:
            response = await client.get("/me", headers=bearer(cognito_issuer.access_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "The token revocation list cannot be checked; try again later",
    }
