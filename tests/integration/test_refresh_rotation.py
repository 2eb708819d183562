"""Refresh-token rotation as Cognito does it, over real loopback HTTP against the OAuthServer.

Through the user-pool API the client refreshes with ``GetTokensFromRefreshToken`` (the only
call a rotating app client accepts); at a domain with the ``refresh_token`` grant. Both rotate,
both honour the retry grace period, and a refresh whose answer is lost on the way is sent once
more with the same refresh token. The issuer's clock is a ManualClock: the grace period is
stepped through, never waited for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard._oauth import API_CONTENT_TYPE, secret_hash
from cognito_guard.client import (
    CognitoTokenClient,
    OAuthError,
    RefreshTokenAuth,
    TokenEndpointUnavailable,
    TokenSet,
)
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer, Response

from ._oauth_support import SECRET, LoseTheAnswer, ProtectedAPI, call, send

GRACE = 30


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["domain", "api"])
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def issuer_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey], issuer_clock: ManualClock) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys, clock=issuer_clock)


@pytest.fixture(scope="module")
def servers(issuer: LocalIssuer) -> Iterator[dict[str, Any]]:
    with (
        issuer.serve_oauth(
            client_secret=SECRET, rotate_refresh_tokens=True, retry_grace_period=GRACE
        ) as grace,
        issuer.serve_oauth(client_secret=SECRET, rotate_refresh_tokens=True) as strict,
        issuer.serve_oauth(client_secret=SECRET) as plain,
        issuer.serve_oauth(
            rotate_refresh_tokens=True, retry_grace_period=GRACE, device_tracking=True
        ) as devices,
        ProtectedAPI(issuer) as api,
    ):
        yield {"grace": grace, "strict": strict, "plain": plain, "devices": devices, "api": api}


def _fresh(servers: dict[str, Any], name: str) -> OAuthServer:
    server: OAuthServer = servers[name]
    server.reset()
    return server


@pytest.fixture
def grace(servers: dict[str, Any]) -> OAuthServer:
    """Rotation on, a 30-second retry grace period, a client secret."""
    return _fresh(servers, "grace")


@pytest.fixture
def strict(servers: dict[str, Any]) -> OAuthServer:
    """Rotation on, no grace period (RetryGracePeriodSeconds 0)."""
    return _fresh(servers, "strict")


@pytest.fixture
def plain(servers: dict[str, Any]) -> OAuthServer:
    """No rotation."""
    return _fresh(servers, "plain")


@pytest.fixture
def devices(servers: dict[str, Any]) -> OAuthServer:
    """A public client of a pool that remembers devices, with rotation and a grace period."""
    return _fresh(servers, "devices")


@pytest.fixture
def api(servers: dict[str, Any]) -> ProtectedAPI:
    api: ProtectedAPI = servers["api"]
    api.seen.clear()
    return api


def make_client(server: OAuthServer, style: str, **options: Any) -> CognitoTokenClient:
    return server.client(**options) if style == "domain" else server.api_client(**options)


def path_of(style: str) -> str:
    return "/oauth2/token" if style == "domain" else "/"


def refused(action: Any) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        action()
    return info.value


def raw_api(server: OAuthServer, operation: str, payload: dict[str, Any]) -> httpx.Response:
    headers = {
        "Content-Type": API_CONTENT_TYPE,
        "X-Amz-Target": f"AWSCognitoIdentityProviderService.{operation}",
    }
    return httpx.post(server.api_url, content=json.dumps(payload), headers=headers)


# -- what the double refuses and serves, as Cognito does -----------------------------------------


def test_initiate_auth_refresh_token_auth_is_refused_by_a_rotating_client(
    grace: OAuthServer, plain: OAuthServer
) -> None:
    def initiate(server: OAuthServer) -> httpx.Response:
        token = server.issue_refresh_token("alice")
        params = {
            "REFRESH_TOKEN": token,
            "USERNAME": "alice",
            "SECRET_HASH": secret_hash(SECRET, "alice", server.client_id),
        }
        payload = {"AuthFlow": "REFRESH_TOKEN_AUTH", "ClientId": server.client_id}
        return raw_api(server, "InitiateAuth", {**payload, "AuthParameters": params})

    refusal = initiate(grace)
    assert refusal.status_code == 400
    assert refusal.json() == {
        "__type": "InvalidParameterException",
        "message": "REFRESH_TOKEN_AUTH flow not enabled for this client",
    }
    # Without rotation REFRESH_TOKEN_AUTH still works in Cognito, and in the double.
    accepted = initiate(plain)
    assert accepted.status_code == 200
    assert "RefreshToken" not in accepted.json()["AuthenticationResult"]


def test_get_tokens_from_refresh_token_checks_the_raw_client_secret(grace: OAuthServer) -> None:
    token = grace.issue_refresh_token("alice")
    base = {"ClientId": grace.client_id, "RefreshToken": token}
    as_hash = raw_api(
        grace, "GetTokensFromRefreshToken", {**base, "ClientSecret": secret_hash(SECRET, "a", "b")}
    )
    missing = raw_api(grace, "GetTokensFromRefreshToken", base)
    assert [as_hash.json()["__type"], missing.json()["__type"]] == ["NotAuthorizedException"] * 2
    assert not grace.is_revoked(token)  # neither refusal rotated it
    wrong = refused(lambda: grace.api_client(client_secret="not-the-secret").refresh(token))
    assert (wrong.error, wrong.aws_error_type) == ("invalid_client", "NotAuthorizedException")
    no_secret = refused(lambda: grace.api_client(client_secret=None).refresh(token))
    assert (no_secret.error, no_secret.aws_error_type) == (
        "invalid_client",
        "NotAuthorizedException",
    )
    assert grace.api_counts == {"GetTokensFromRefreshToken": 4}


def test_without_rotation_the_api_keeps_the_refresh_token(plain: OAuthServer, mode: str) -> None:
    token = plain.issue_refresh_token("alice")
    first = call(mode, plain.api_client(), "refresh", token)
    second = call(mode, plain.api_client(), "refresh", token)
    assert first.refresh_token == second.refresh_token == token
    assert plain.api_counts == {"GetTokensFromRefreshToken": 2}


# -- rotation and the grace period, on both paths ------------------------------------------------


def test_rotation_and_the_grace_period(
    grace: OAuthServer, issuer_clock: ManualClock, style: str, mode: str
) -> None:
    client = make_client(grace, style)
    old = grace.issue_refresh_token("alice")
    first = call(mode, client, "refresh", old)
    assert first.refresh_token not in (None, old)
    assert not grace.is_revoked(old)  # rotated out, but inside the grace period

    issuer_clock.advance(GRACE - 1)
    retried = call(mode, client, "refresh", old)  # e.g. a retry after a lost answer
    assert retried.refresh_token not in (None, old, first.refresh_token)
    # The retry's replacement supersedes the first one (the stricter reading of Cognito).
    assert grace.is_revoked(first.refresh_token)
    assert refused(lambda: call(mode, client, "refresh", first.refresh_token)).error == (
        "invalid_grant"
    )

    issuer_clock.advance(1)  # the grace period is over
    assert grace.is_revoked(old)
    reuse = refused(lambda: call(mode, client, "refresh", old))
    assert reuse.error == "invalid_grant"
    assert reuse.aws_error_type == (None if style == "domain" else "RefreshTokenReuseException")
    newer = call(mode, client, "refresh", retried.refresh_token)  # the latest token still works
    assert newer.refresh_token not in (old, first.refresh_token, retried.refresh_token)


def test_once_the_new_token_is_used_the_old_one_is_spent_even_within_grace(
    grace: OAuthServer, style: str
) -> None:
    client = make_client(grace, style)
    old = grace.issue_refresh_token("alice")
    first = client.refresh(old)
    client.refresh(first.refresh_token or "")
    reuse = refused(lambda: client.refresh(old))
    assert reuse.error == "invalid_grant"
    assert reuse.aws_error_type == (None if style == "domain" else "RefreshTokenReuseException")


def test_without_a_grace_period_the_old_token_is_refused_at_once(
    strict: OAuthServer, style: str, mode: str
) -> None:
    client = make_client(strict, style)
    old = strict.issue_refresh_token("alice")
    assert call(mode, client, "refresh", old).refresh_token != old
    assert strict.is_revoked(old)
    reuse = refused(lambda: call(mode, client, "refresh", old))
    assert reuse.error == "invalid_grant"
    assert reuse.aws_error_type == (None if style == "domain" else "RefreshTokenReuseException")


def test_an_unknown_refresh_token_is_not_authorized_and_not_retried(
    grace: OAuthServer, style: str, mode: str
) -> None:
    error = refused(lambda: call(mode, make_client(grace, style), "refresh", "rt-never-issued"))
    assert error.error == "invalid_grant"
    assert error.aws_error_type == (None if style == "domain" else "NotAuthorizedException")
    assert grace.request_count(path_of(style)) == 1


# -- device tracking ------------------------------------------------------------------------------


def test_with_device_tracking_the_api_refresh_needs_the_device_key(
    devices: OAuthServer, mode: str
) -> None:
    token = devices.issue_refresh_token("alice")
    device_key = devices.device_key_of(token)
    assert device_key is not None and device_key.startswith(devices.issuer.region + "_")
    client = devices.api_client()
    missing = refused(lambda: call(mode, client, "refresh", token))
    wrong = refused(lambda: call(mode, client, "refresh", token, device_key="us-east-1_other"))
    for error in (missing, wrong):
        assert (error.error, error.aws_error_type) == ("invalid_grant", "NotAuthorizedException")
    assert not devices.is_revoked(token)  # the refusals did not rotate it
    tokens = call(
        mode, client, "refresh", token, device_key=device_key, client_metadata={"app": "web"}
    )
    assert devices.last_client_metadata == {"app": "web"}
    assert tokens.refresh_token not in (None, token)
    assert devices.device_key_of(tokens.refresh_token) == device_key  # the device stays


def test_a_pinned_device_key_and_refresh_token_auth_sending_it(
    devices: OAuthServer, api: ProtectedAPI, issuer_clock: ManualClock, mode: str
) -> None:
    token = devices.issue_refresh_token("alice", device_key="us-east-1_pinned-device")
    client = devices.api_client()
    tokens = client.refresh(token, device_key="us-east-1_pinned-device")
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(
        client, tokens, on_refresh=saved.append, device_key="us-east-1_pinned-device"
    )
    issuer_clock.advance(3600)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1
    assert saved[0].refresh_token not in (token, tokens.refresh_token)


def test_a_device_key_needs_device_tracking(grace: OAuthServer) -> None:
    with pytest.raises(ValueError, match="device_tracking"):
        grace.issue_refresh_token(device_key="us-east-1_x")


# -- the grace-period retry -----------------------------------------------------------------------


def _lossy_client(server: OAuthServer, style: str, lossy: LoseTheAnswer) -> CognitoTokenClient:
    return make_client(server, style, transport=lossy, async_transport=lossy)


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_a_rotation_whose_answer_was_lost_is_retried_within_the_grace_period(
    grace: OAuthServer,
    style: str,
    mode: str,
    error: type[httpx.TransportError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cognito_guard")
    old = grace.issue_refresh_token("alice")
    lossy = LoseTheAnswer(error=error)
    tokens = call(mode, _lossy_client(grace, style, lossy), "refresh", old)
    # Both requests reached the double and both rotated; the retry's answer came back.
    assert lossy.attempts == grace.request_count(path_of(style)) == 2
    assert tokens.refresh_token not in (None, old)
    assert not grace.is_revoked(tokens.refresh_token)
    again = grace.client().refresh(tokens.refresh_token)  # the session goes on
    assert again.refresh_token != tokens.refresh_token
    assert any("retrying once" in record.getMessage() for record in caplog.records)
    assert not any(old in record.getMessage() for record in caplog.records)


def test_without_a_grace_period_the_retry_cannot_save_a_lost_rotation(
    strict: OAuthServer, style: str, mode: str
) -> None:
    old = strict.issue_refresh_token("alice")
    lossy = LoseTheAnswer()
    error = refused(lambda: call(mode, _lossy_client(strict, style, lossy), "refresh", old))
    assert error.error == "invalid_grant"
    assert error.aws_error_type == (None if style == "domain" else "RefreshTokenReuseException")
    assert lossy.attempts == 2


def test_a_5xx_from_cognito_is_retried_once(grace: OAuthServer, style: str, mode: str) -> None:
    grace.inject(path_of(style), Response.json({"message": "internal"}, 500))
    tokens = call(mode, make_client(grace, style), "refresh", grace.issue_refresh_token())
    assert tokens.refresh_token
    assert grace.request_count(path_of(style)) == 2


def test_a_connection_failing_before_sending_is_retried_once(
    grace: OAuthServer, style: str, mode: str
) -> None:
    lossy = LoseTheAnswer(error=httpx.ConnectError, after_sending=False)
    tokens = call(mode, _lossy_client(grace, style, lossy), "refresh", grace.issue_refresh_token())
    assert tokens.refresh_token
    assert (lossy.attempts, grace.request_count(path_of(style))) == (2, 1)


def test_the_retry_happens_only_once(grace: OAuthServer, style: str, mode: str) -> None:
    lossy = LoseTheAnswer(times=5, error=httpx.ConnectError, after_sending=False)
    with pytest.raises(TokenEndpointUnavailable, match="could not be reached"):
        call(mode, _lossy_client(grace, style, lossy), "refresh", grace.issue_refresh_token())
    assert lossy.attempts == 2
    grace.inject(path_of(style), Response.json({"message": "internal"}, 500), times=2)
    with pytest.raises(TokenEndpointUnavailable):
        call(mode, make_client(grace, style), "refresh", grace.issue_refresh_token())
    assert grace.request_count(path_of(style)) == 2


def test_other_operations_are_not_retried(grace: OAuthServer, mode: str) -> None:
    lossy = LoseTheAnswer(times=1, error=httpx.ConnectError, after_sending=False)
    with pytest.raises(TokenEndpointUnavailable):
        call(mode, _lossy_client(grace, "domain", lossy), "client_credentials")
    assert lossy.attempts == 1


def test_refresh_token_auth_keeps_the_session_through_a_lost_answer(
    grace: OAuthServer, api: ProtectedAPI, issuer_clock: ManualClock, style: str, mode: str
) -> None:
    lossy = LoseTheAnswer(times=0)
    client = _lossy_client(grace, style, lossy)
    tokens = client.refresh(grace.issue_refresh_token("alice"))
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    lossy.left = 1  # the next refresh rotates at the double and its answer is lost
    issuer_clock.advance(3600)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1
    assert auth.tokens is saved[0]
    assert not grace.is_revoked(saved[0].refresh_token or "")
    assert api.seen == [saved[0].access_token]
    issuer_clock.advance(3600)  # and the next refresh uses the token the retry brought
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 2
    assert grace.request_count(path_of(style)) == 4  # sign-in, lost + retry, next refresh
