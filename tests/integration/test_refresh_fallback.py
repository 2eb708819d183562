"""Refreshing at a user-pool API without ``GetTokensFromRefreshToken``, over loopback HTTP.

The OAuthServer double answers that operation as AWS answers an operation it does not have
(HTTP 400 ``UnknownOperationException``), like a local emulator that lacks it. A client without
refresh-token rotation then refreshes with ``InitiateAuth REFRESH_TOKEN_AUTH`` and never asks
for the missing operation again; a client made with ``refresh_token_rotation=True`` gets
:class:`UnsupportedOperationError`. The same against moto itself is in ``test_moto_refresh``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard.client import (
    OAuthError,
    RefreshTokenAuth,
    TokenEndpointUnavailable,
    TokenSet,
    UnsupportedOperationError,
)
from cognito_guard.errors import ConfigurationError
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer

from ._oauth_support import SECRET, ProtectedAPI, call, send

GET_TOKENS = "GetTokensFromRefreshToken"
MISSING = (GET_TOKENS,)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def issuer_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def servers(
    cognito_signing_keys: list[RSAPrivateKey], issuer_clock: ManualClock
) -> Iterator[dict[str, Any]]:
    issuer = LocalIssuer(keys=cognito_signing_keys, clock=issuer_clock)
    with (
        issuer.serve_oauth(unknown_operations=MISSING) as public,
        issuer.serve_oauth(client_secret=SECRET, unknown_operations=MISSING) as confidential,
        issuer.serve_oauth(rotate_refresh_tokens=True, unknown_operations=MISSING) as rotating,
        ProtectedAPI(issuer) as api,
    ):
        yield {"public": public, "confidential": confidential, "rotating": rotating, "api": api}


def _fresh(servers: dict[str, Any], name: str) -> OAuthServer:
    server: OAuthServer = servers[name]
    server.reset()
    return server


@pytest.fixture
def public(servers: dict[str, Any]) -> OAuthServer:
    """A public app client without rotation; the API lacks GetTokensFromRefreshToken."""
    return _fresh(servers, "public")


@pytest.fixture
def confidential(servers: dict[str, Any]) -> OAuthServer:
    """An app client with a secret, without rotation; the API lacks the operation."""
    return _fresh(servers, "confidential")


@pytest.fixture
def rotating(servers: dict[str, Any]) -> OAuthServer:
    """An app client that rotates refresh tokens; the API lacks the operation."""
    return _fresh(servers, "rotating")


@pytest.fixture
def api(servers: dict[str, Any]) -> ProtectedAPI:
    api: ProtectedAPI = servers["api"]
    api.seen.clear()
    return api


def test_a_client_without_rotation_falls_back_once_and_remembers(
    public: OAuthServer, mode: str
) -> None:
    client = public.api_client()
    refresh_token = public.issue_refresh_token("alice")
    first = call(mode, client, "refresh", refresh_token)
    assert first.refresh_token == refresh_token  # no rotation: the one used is kept
    assert first.username == "alice"
    public.issuer.verifier(token_cache_size=0).verify(first.access_token)
    assert public.api_counts == {GET_TOKENS: 1, "InitiateAuth": 1}
    second = call(mode, client, "refresh", refresh_token)
    assert second.access_token
    assert public.api_counts == {GET_TOKENS: 1, "InitiateAuth": 2}
    # The answer belongs to the client object: a new client asks once for itself.
    call(mode, public.api_client(), "refresh", refresh_token)
    assert public.api_counts == {GET_TOKENS: 2, "InitiateAuth": 3}


def test_a_verdict_of_the_fallback_is_an_oauth_error(public: OAuthServer, mode: str) -> None:
    client = public.api_client()
    with pytest.raises(OAuthError) as info:
        call(mode, client, "refresh", "rt-never-issued")
    assert (info.value.error, info.value.aws_error_type) == (
        "invalid_grant",
        "NotAuthorizedException",
    )
    assert not isinstance(info.value, UnsupportedOperationError)
    assert public.api_counts == {GET_TOKENS: 1, "InitiateAuth": 1}


def test_a_client_with_a_secret_falls_back_with_the_secret_hash_of_the_username(
    confidential: OAuthServer, mode: str
) -> None:
    client = confidential.api_client()
    refresh_token = confidential.issue_refresh_token("alice")
    with pytest.raises(ConfigurationError, match=r"username=\.\.\."):
        call(mode, client, "refresh", refresh_token)
    tokens = call(mode, client, "refresh", refresh_token, username="alice")
    assert tokens.username == "alice"
    assert confidential.api_counts == {GET_TOKENS: 1, "InitiateAuth": 1}


def test_refresh_token_auth_passes_the_username_of_its_tokens(
    confidential: OAuthServer, api: ProtectedAPI, mode: str
) -> None:
    client = confidential.api_client()
    tokens = client.refresh(confidential.issue_refresh_token("alice"), username="alice")
    stale = TokenSet.from_dict({**tokens.as_dict(), "expires_at": 0}, clock=client.clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, stale, on_refresh=saved.append)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1 and api.seen == [saved[0].access_token]
    assert confidential.api_counts == {GET_TOKENS: 1, "InitiateAuth": 2}


def test_a_client_made_for_rotation_gets_a_typed_error_naming_the_operation(
    rotating: OAuthServer, mode: str
) -> None:
    client = rotating.api_client(refresh_token_rotation=True)
    refresh_token = rotating.issue_refresh_token("alice")
    with pytest.raises(UnsupportedOperationError) as info:
        call(mode, client, "refresh", refresh_token)
    error = info.value
    assert isinstance(error, OAuthError) and not isinstance(error, TokenEndpointUnavailable)
    assert (error.error, error.missing_operation, error.status_code) == (
        "unsupported_grant_type",
        GET_TOKENS,
        400,
    )
    assert error.aws_error_type == "UnknownOperationException"
    assert GET_TOKENS in str(error) and "unavailable" not in str(error)
    # Never InitiateAuth (Cognito refuses it for a rotating client), and not asked again.
    with pytest.raises(UnsupportedOperationError):
        call(mode, client, "refresh", refresh_token)
    assert rotating.api_counts == {GET_TOKENS: 1}
    assert not rotating.is_revoked(refresh_token)


def test_concurrent_first_refreshes_of_one_client_all_succeed(public: OAuthServer) -> None:
    """Four threads and four coroutines of one client start refreshing at once."""
    client = public.api_client()
    refresh_token = public.issue_refresh_token("alice")
    results: list[TokenSet] = []
    errors: list[BaseException] = []
    start = threading.Barrier(5)

    def in_a_thread() -> None:
        start.wait()
        try:
            results.append(client.refresh(refresh_token))
        except Exception as exc:
            errors.append(exc)

    async def in_a_task() -> None:
        try:
            results.append(await client.arefresh(refresh_token))
        except Exception as exc:
            errors.append(exc)

    async def four_tasks() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(in_a_task)

    def on_a_loop() -> None:
        start.wait()
        anyio.run(four_tasks)

    threads = [threading.Thread(target=in_a_thread) for _ in range(4)]
    threads.append(threading.Thread(target=on_a_loop))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(results) == 8 and all(tokens.access_token for tokens in results)
    asked = public.api_counts[GET_TOKENS]
    assert 1 <= asked <= 8  # each refresh that began before the answer was known asks once
    assert public.api_counts["InitiateAuth"] == 8
    call("sync", client, "refresh", refresh_token)
    call("async", client, "refresh", refresh_token)
    assert public.api_counts == {GET_TOKENS: asked, "InitiateAuth": 10}
