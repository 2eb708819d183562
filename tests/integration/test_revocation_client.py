"""sign_out and global_sign_out end to end: the OAuth double (Cognito) and a shared list."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from cognito_guard import CognitoVerifier, RevokedTokenError
from cognito_guard.client import CognitoTokenClient, OAuthError, TokenEndpointUnavailable, TokenSet
from cognito_guard.revocation import MemoryRevocations, RedisRevocations
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer


@pytest.fixture
def clock() -> ManualClock:  # real epoch time, moved by hand: tokens, client and list agree
    return ManualClock(float(int(time.time())))


@pytest.fixture
def server(cognito_issuer: LocalIssuer, clock: ManualClock) -> Iterator[OAuthServer]:
    cognito_issuer.clock = clock
    with cognito_issuer.serve_oauth() as running:
        yield running


@pytest.fixture
def lists(
    cognito_redis_url: str, clock: ManualClock
) -> Iterator[tuple[RedisRevocations, RedisRevocations]]:
    writer = RedisRevocations(cognito_redis_url, resync_interval=0.1, clock=clock)
    reader = RedisRevocations(cognito_redis_url, resync_interval=0.1, clock=clock)
    yield writer, reader
    writer.close()
    reader.close()


def _verifiers(issuer: LocalIssuer, revocations: object) -> tuple[CognitoVerifier, CognitoVerifier]:
    return (
        issuer.verifier(revocations=revocations, token_use="access"),
        issuer.verifier(revocations=revocations, token_use="id"),
    )


def _wait_refused(verifier: CognitoVerifier, token: str) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            verifier.verify(token)
        except RevokedTokenError:
            return
        assert time.monotonic() < deadline, "not refused in time"
        time.sleep(0.005)


def _sign_in(server: OAuthServer, client: CognitoTokenClient, user: str = "alice") -> TokenSet:
    return client.refresh(server.issue_refresh_token(user))


@pytest.mark.parametrize("api", [False, True], ids=["domain", "user_pool_api"])
def test_sign_out_revokes_at_cognito_and_in_every_process(
    server: OAuthServer, lists: tuple[RedisRevocations, RedisRevocations], api: bool
) -> None:
    writer, reader = lists
    client = server.api_client() if api else server.client()
    access, id_verifier = _verifiers(server.issuer, reader)
    tokens = _sign_in(server, client)
    other = _sign_in(server, client)  # another session of the same user
    assert tokens.id_token is not None
    access.verify(tokens.access_token)
    client.sign_out(tokens, revocations=writer)
    assert tokens.refresh_token is not None and server.is_revoked(tokens.refresh_token)
    with pytest.raises(OAuthError) as refused:
        client.refresh(tokens.refresh_token)
    assert refused.value.error == "invalid_grant"
    _wait_refused(access, tokens.access_token)
    _wait_refused(id_verifier, tokens.id_token)
    assert access.verify(other.access_token).username == "alice"  # only that session


def _sign_out(
    mode: str, client: CognitoTokenClient, tokens: TokenSet, revocations: MemoryRevocations
) -> None:
    if mode == "sync":
        client.sign_out(tokens, revocations=revocations)
    else:
        asyncio.run(client.asign_out(tokens, revocations=revocations))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_refused_refresh_token_still_records_the_session(
    server: OAuthServer, cognito_issuer: LocalIssuer, clock: ManualClock, mode: str
) -> None:
    revocations = MemoryRevocations(clock=clock)
    client = server.client()
    tokens = _sign_in(server, client)
    server.inject_oauth_error("/oauth2/revoke", "invalid_client", 401)
    with pytest.raises(OAuthError) as caught:
        _sign_out(mode, client, tokens, revocations)
    assert caught.value.error == "invalid_client"
    with pytest.raises(RevokedTokenError):
        _verifiers(cognito_issuer, revocations)[0].verify(tokens.access_token)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_unreachable_cognito_still_records_the_session(
    server: OAuthServer, cognito_issuer: LocalIssuer, clock: ManualClock, mode: str
) -> None:
    revocations = MemoryRevocations(clock=clock)
    tokens = _sign_in(server, server.client())
    with socket.socket() as closed:  # a loopback port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        unreachable = CognitoTokenClient(
            "cid", domain=f"http://127.0.0.1:{closed.getsockname()[1]}"
        )
    with pytest.raises(TokenEndpointUnavailable):
        _sign_out(mode, unreachable, tokens, revocations)
    with pytest.raises(RevokedTokenError):
        _verifiers(cognito_issuer, revocations)[0].verify(tokens.access_token)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_session_without_origin_jti_records_each_token(
    server: OAuthServer, cognito_issuer: LocalIssuer, clock: ManualClock, mode: str
) -> None:
    revocations = MemoryRevocations(clock=clock)
    m2m = server.client(client_secret=None)
    token = cognito_issuer.m2m_token()
    tokens = TokenSet(access_token=token, expires_in=3600, expires_at=clock.now + 3600)
    _sign_out(mode, m2m, tokens, revocations)  # no refresh token: nothing asked of Cognito
    assert [e.kind for e in revocations.entries()] == ["jti"]
    with pytest.raises(RevokedTokenError):
        cognito_issuer.verifier(revocations=revocations).verify(token)


def test_asign_out(server: OAuthServer, lists: tuple[RedisRevocations, RedisRevocations]) -> None:
    writer, reader = lists
    client = server.client()
    tokens = _sign_in(server, client)

    async def sign_out() -> None:
        await client.asign_out(tokens, revocations=writer)
        await writer.aclose()

    asyncio.run(sign_out())
    assert tokens.refresh_token is not None and server.is_revoked(tokens.refresh_token)
    _wait_refused(_verifiers(server.issuer, reader)[0], tokens.access_token)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_global_sign_out_signs_the_user_out_everywhere(
    server: OAuthServer,
    lists: tuple[RedisRevocations, RedisRevocations],
    clock: ManualClock,
    mode: str,
) -> None:
    writer, reader = lists
    client = server.api_client()
    access, _ = _verifiers(server.issuer, reader)
    first, second = _sign_in(server, client), _sign_in(server, client)
    bob = _sign_in(server, client, "bob")
    assert client.userinfo(first.access_token)["username"] == "alice"
    if mode == "sync":
        client.global_sign_out(first.access_token, revocations=writer)
    else:

        async def sign_out() -> None:
            await client.aglobal_sign_out(first.access_token, revocations=writer)
            await writer.aclose()

        asyncio.run(sign_out())
    assert server.api_counts["GlobalSignOut"] == 1
    for tokens in (first, second):  # Cognito: refresh tokens revoked, old access tokens refused
        assert tokens.refresh_token is not None
        with pytest.raises(OAuthError) as refused:
            client.refresh(tokens.refresh_token)
        assert refused.value.error == "invalid_grant"
        with pytest.raises(OAuthError) as refused:
            client.userinfo(tokens.access_token)
        assert refused.value.error == "invalid_token"
        _wait_refused(access, tokens.access_token)  # and every API process refuses them
    assert access.verify(bob.access_token).username == "bob"
    clock.advance(1)
    again = _sign_in(server, client)  # signing in again after the sign-out works
    assert access.verify(again.access_token).username == "alice"
    assert client.userinfo(again.access_token)["username"] == "alice"


def test_global_sign_out_refused_by_cognito_records_nothing(
    server: OAuthServer, clock: ManualClock
) -> None:
    revocations = MemoryRevocations(clock=clock)
    client = server.api_client()
    forged = server.issuer.access_token(
        username="victim", scopes=["aws.cognito.signin.user.admin"], client_id="x" * 26
    )
    server.inject_api_error("NotAuthorizedException", "Invalid Access Token", 400)
    with pytest.raises(OAuthError) as caught:
        client.global_sign_out(forged, revocations=revocations)
    assert caught.value.error == "invalid_token"
    assert revocations.entries() == []  # an unverified sub must not sign anyone out
