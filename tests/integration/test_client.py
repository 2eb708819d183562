"""CognitoTokenClient over real loopback HTTP against the OAuthServer test double.

Every operation runs sync and async (the ``mode`` fixture), and refresh/revoke/userinfo run
against both the hosted OAuth endpoints and the user-pool API (the ``style`` fixture).
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard._http import ssl_context
from cognito_guard.client import CognitoTokenClient, OAuthError, TokenEndpointUnavailable
from cognito_guard.errors import ClaimCheckError, ConfigurationError
from cognito_guard.pkce import make_pkce_pair
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer, Response

from ._oauth_support import SECRET, call

REDIRECT = "https://app.example.com/callback"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["domain", "api"])
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_client(server: OAuthServer, style: str, **options: Any) -> CognitoTokenClient:
    return server.client(**options) if style == "domain" else server.api_client(**options)


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def servers(issuer: LocalIssuer) -> Iterator[dict[str, OAuthServer]]:
    # Module-scoped and reset per test: stopping a loopback server takes up to half a second.
    with (
        issuer.serve_oauth(client_secret=SECRET) as secret,
        issuer.serve_oauth(client_secret=SECRET, rotate_refresh_tokens=True) as rotating,
        issuer.serve_oauth() as public,
    ):
        yield {"secret": secret, "rotating": rotating, "public": public}


def _fresh(servers: dict[str, OAuthServer], name: str) -> OAuthServer:
    servers[name].reset()
    return servers[name]


@pytest.fixture
def server(servers: dict[str, OAuthServer]) -> OAuthServer:
    """A confidential client (with a secret), no rotation."""
    return _fresh(servers, "secret")


@pytest.fixture
def rotating(servers: dict[str, OAuthServer]) -> OAuthServer:
    """A confidential client with refresh-token rotation."""
    return _fresh(servers, "rotating")


@pytest.fixture
def public(servers: dict[str, OAuthServer]) -> OAuthServer:
    """A public client (no secret)."""
    return _fresh(servers, "public")


def expect_oauth_error(action: Callable[[], object]) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        action()
    return info.value


# -- client credentials --------------------------------------------------------------------------


def test_client_credentials_returns_a_verifiable_m2m_token(
    server: OAuthServer, issuer: LocalIssuer, mode: str
) -> None:
    tokens = call(mode, server.client(), "client_credentials", scopes=["orders/read"])
    claims = issuer.verifier().verify(tokens.access_token)
    assert claims.is_machine
    assert claims.scopes == {"orders/read"}
    assert (tokens.id_token, tokens.refresh_token) == (None, None)
    assert (tokens.token_type, tokens.expires_in) == ("Bearer", 3600)
    assert server.grant_counts["client_credentials"] == 1


def test_operations_share_the_process_tls_context(
    server: OAuthServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every operation makes an httpx client; loading a CA bundle into a new TLS context costs
    # tens of milliseconds, so the process's one context must be the one they use.
    ssl_context()
    loads: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        load(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    client = server.client()
    for _ in range(3):
        tokens = call(mode, client, "client_credentials", scopes=["orders/read"])
    assert tokens.access_token
    assert server.grant_counts["client_credentials"] == 3
    assert loads == []


def test_client_credentials_expiry_follows_the_injected_clock(
    server: OAuthServer, mode: str
) -> None:
    clock = ManualClock(1_000_000)
    tokens = call(mode, server.client(clock=clock), "client_credentials")
    assert tokens.expires_at == 1_000_000 + 3600
    clock.advance(3600 - 60)
    assert not tokens.is_expired()
    assert not tokens.is_expired(leeway=59)
    assert tokens.is_expired(leeway=60)
    clock.advance(60)
    assert tokens.is_expired()


def test_client_credentials_without_scopes_gets_every_allowed_scope(
    server: OAuthServer, issuer: LocalIssuer, mode: str
) -> None:
    tokens = call(mode, server.client(), "client_credentials")
    assert issuer.verifier().verify(tokens.access_token).scopes == {
        "orders/read",
        "orders/write",
    }


def test_client_credentials_needs_a_domain_and_a_secret(
    server: OAuthServer, public: OAuthServer
) -> None:
    with pytest.raises(ConfigurationError, match="domain"):
        server.api_client().client_credentials()
    with pytest.raises(ConfigurationError, match="client_secret"):
        public.client().client_credentials()
    assert server.request_count() == public.request_count() == 0


# -- refresh -------------------------------------------------------------------------------------


def test_refresh_without_rotation_keeps_the_refresh_token(
    server: OAuthServer, issuer: LocalIssuer, style: str, mode: str
) -> None:
    refresh_token = server.issue_refresh_token("alice")
    client = make_client(server, style)
    tokens = call(mode, client, "refresh", refresh_token, username="alice")
    again = call(mode, client, "refresh", refresh_token, username="alice")
    assert tokens.refresh_token == again.refresh_token == refresh_token
    assert issuer.verifier().verify(tokens.access_token).username == "alice"
    assert issuer.verifier(token_use="id").verify(tokens.id_token).username == "alice"
    assert tokens.username == "alice"


def test_refresh_with_rotation_returns_a_new_token_and_retires_the_old(
    rotating: OAuthServer, style: str, mode: str
) -> None:
    old = rotating.issue_refresh_token("alice")
    client = make_client(rotating, style)
    tokens = call(mode, client, "refresh", old, username="alice")
    assert tokens.refresh_token not in (None, old)
    assert rotating.is_revoked(old)
    error = expect_oauth_error(lambda: call(mode, client, "refresh", old, username="alice"))
    assert error.error == "invalid_grant"
    newer = call(mode, client, "refresh", tokens.refresh_token, username="alice")
    assert newer.refresh_token not in (old, tokens.refresh_token)


def test_refresh_validates_the_id_token_when_given_a_verifier(
    server: OAuthServer, issuer: LocalIssuer, style: str, mode: str
) -> None:
    verifier = issuer.verifier(jwks_uri=server.jwks_uri, token_use="id")
    client = make_client(server, style, id_token_verifier=verifier)
    tokens = call(mode, client, "refresh", server.issue_refresh_token("bob"), username="bob")
    assert tokens.id_claims is not None
    assert tokens.id_claims.username == "bob"
    assert server.request_count("/" + issuer.user_pool_id + "/.well-known/jwks.json") == 1


def test_refresh_through_the_api_with_a_secret_needs_no_username(
    server: OAuthServer, mode: str
) -> None:
    """GetTokensFromRefreshToken takes the client secret itself, not a SECRET_HASH."""
    tokens = call(mode, server.api_client(), "refresh", server.issue_refresh_token("dave"))
    assert tokens.username == "dave"
    assert server.api_counts == {"GetTokensFromRefreshToken": 1}


def test_public_client_authenticates_with_client_id_in_the_body(
    public: OAuthServer, style: str, mode: str
) -> None:
    client = make_client(public, style)
    tokens = call(mode, client, "refresh", public.issue_refresh_token())
    assert tokens.access_token
    call(mode, client, "revoke", tokens.refresh_token)
    assert public.is_revoked(tokens.refresh_token)


# -- revoke --------------------------------------------------------------------------------------


def test_revoke_then_refresh_fails_with_invalid_grant(
    server: OAuthServer, style: str, mode: str
) -> None:
    client = make_client(server, style)
    refresh_token = server.issue_refresh_token("alice")
    tokens = call(mode, client, "refresh", refresh_token, username="alice")
    call(mode, client, "revoke", refresh_token)
    error = expect_oauth_error(
        lambda: call(mode, client, "refresh", refresh_token, username="alice")
    )
    assert error.error == "invalid_grant"
    # The access tokens the refresh token produced are revoked with it.
    error = expect_oauth_error(lambda: call(mode, client, "userinfo", tokens.access_token))
    assert error.error == "invalid_token"


def test_revoking_an_unknown_token_succeeds(server: OAuthServer, style: str, mode: str) -> None:
    call(mode, make_client(server, style), "revoke", "rt-never-issued")
    assert server.request_count("/oauth2/revoke" if style == "domain" else "/") == 1


# -- userinfo ------------------------------------------------------------------------------------


def test_userinfo_returns_the_users_attributes(
    server: OAuthServer, issuer: LocalIssuer, style: str, mode: str
) -> None:
    server.add_user("bob", email="bob@example.org", **{"custom:tenant": "t-42"})
    client = make_client(server, style)
    tokens = client.refresh(server.issue_refresh_token("bob"), username="bob")
    info = call(mode, client, "userinfo", tokens.access_token)
    assert info["username"] == "bob"
    assert info["email"] == "bob@example.org"
    assert info["custom:tenant"] == "t-42"
    assert info["sub"] == issuer.verifier().verify(tokens.access_token).sub


# -- the authorization-code flow -----------------------------------------------------------------


def test_exchange_code_with_pkce_and_nonce_through_the_authorize_redirect(
    server: OAuthServer, issuer: LocalIssuer, mode: str
) -> None:
    verifier = issuer.verifier(jwks_uri=server.jwks_uri, token_use="id")
    client = server.client(id_token_verifier=verifier)
    auth = client.authorization_request(REDIRECT, scopes=["openid", "email"])
    redirect = httpx.get(auth.url, follow_redirects=False)
    assert redirect.status_code == 302
    location = urlsplit(redirect.headers["location"])
    params = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert params["state"] == [auth.state]
    tokens = call(
        mode,
        client,
        "exchange_code",
        params["code"][0],
        redirect_uri=REDIRECT,
        code_verifier=auth.code_verifier,
        nonce=auth.nonce,
    )
    assert tokens.refresh_token
    assert tokens.id_claims is not None
    assert tokens.id_claims["nonce"] == auth.nonce
    assert issuer.verifier().verify(tokens.access_token).scopes == {"openid", "email"}


def test_exchange_code_with_the_wrong_verifier_is_invalid_grant(
    server: OAuthServer, mode: str
) -> None:
    pair, other = make_pkce_pair(), make_pkce_pair()
    code = server.issue_code(redirect_uri=REDIRECT, code_challenge=pair.challenge)
    error = expect_oauth_error(
        lambda: call(
            mode,
            server.client(),
            "exchange_code",
            code,
            redirect_uri=REDIRECT,
            code_verifier=other.verifier,
        )
    )
    assert error.error == "invalid_grant"
    assert other.verifier not in str(error)
    assert code not in str(error)


def test_an_authorization_code_is_single_use(server: OAuthServer, mode: str) -> None:
    code = server.issue_code(redirect_uri=REDIRECT)
    call(mode, server.client(), "exchange_code", code, redirect_uri=REDIRECT)
    error = expect_oauth_error(
        lambda: call(mode, server.client(), "exchange_code", code, redirect_uri=REDIRECT)
    )
    assert error.error == "invalid_grant"


def test_exchange_code_rejects_an_id_token_with_another_nonce(
    server: OAuthServer, issuer: LocalIssuer, mode: str
) -> None:
    verifier = issuer.verifier(jwks_uri=server.jwks_uri, token_use="id")
    code = server.issue_code(redirect_uri=REDIRECT, nonce="nonce-from-a-replayed-response")
    with pytest.raises(ClaimCheckError, match="nonce"):
        call(
            mode,
            server.client(id_token_verifier=verifier),
            "exchange_code",
            code,
            redirect_uri=REDIRECT,
            nonce="the-nonce-this-session-sent",
        )


# -- error codes ---------------------------------------------------------------------------------


def _wrong_secret(server: OAuthServer, style: str) -> CognitoTokenClient:
    return make_client(server, style, client_secret="not-the-secret")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong secret", "invalid_client"),
        ("missing secret", "invalid_client"),
        ("unknown refresh token", "invalid_grant"),
        ("unknown scope", "invalid_scope"),
        ("grant not allowed", "unauthorized_client"),
    ],
)
def test_token_endpoint_errors_are_mapped_to_their_oauth_code(
    server: OAuthServer, mode: str, monkeypatch: pytest.MonkeyPatch, case: str, expected: str
) -> None:
    if case == "grant not allowed":
        monkeypatch.setattr(server, "allowed_grants", {"authorization_code", "refresh_token"})
    actions: dict[str, Callable[[], object]] = {
        "wrong secret": lambda: call(
            mode, server.client(client_secret="nope-nope"), "client_credentials"
        ),
        "missing secret": lambda: call(mode, server.client(client_secret=None), "refresh", "rt-x"),
        "unknown refresh token": lambda: call(mode, server.client(), "refresh", "rt-unknown"),
        "unknown scope": lambda: call(
            mode, server.client(), "client_credentials", scopes=["billing/admin"]
        ),
        "grant not allowed": lambda: call(mode, server.client(), "client_credentials"),
    }
    error = expect_oauth_error(actions[case])
    assert error.error == expected
    assert error.status_code in (400, 401)
    assert error.aws_error_type is None


@pytest.mark.parametrize(
    "code",
    [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ],
)
def test_every_documented_token_error_code_reaches_the_caller(
    server: OAuthServer, mode: str, code: str
) -> None:
    server.inject_oauth_error("/oauth2/token", code, 401 if code == "invalid_client" else 400)
    error = expect_oauth_error(lambda: call(mode, server.client(), "client_credentials"))
    assert error.error == code
    assert error.operation == "client_credentials"


def test_the_double_answers_unsupported_grant_type_and_invalid_request(
    server: OAuthServer,
) -> None:
    auth = (server.client_id, SECRET)
    unsupported = httpx.post(
        server.domain + "/oauth2/token", data={"grant_type": "password"}, auth=auth
    )
    missing = httpx.post(server.domain + "/oauth2/token", data={}, auth=auth)
    assert (unsupported.status_code, unsupported.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")


def test_revoke_errors_are_mapped(server: OAuthServer, style: str, mode: str) -> None:
    access = server.client().refresh(server.issue_refresh_token()).access_token
    wrong_type = expect_oauth_error(
        lambda: call(mode, make_client(server, style), "revoke", access)
    )
    wrong_client = expect_oauth_error(
        lambda: call(mode, _wrong_secret(server, style), "revoke", "rt-x")
    )
    assert wrong_type.error == "unsupported_token_type"
    assert wrong_client.error == "invalid_client"


def test_revoke_invalid_request_is_mapped(server: OAuthServer, mode: str) -> None:
    server.inject_oauth_error("/oauth2/revoke", "invalid_request")
    error = expect_oauth_error(lambda: call(mode, server.client(), "revoke", "rt-x"))
    assert error.error == "invalid_request"


def test_userinfo_errors_are_mapped(
    server: OAuthServer, issuer: LocalIssuer, style: str, mode: str
) -> None:
    client = make_client(server, style)
    expired = issuer.access_token(
        expires_in=-10, scopes=["openid", "aws.cognito.signin.user.admin"]
    )
    without_scope = issuer.access_token(scopes=["orders/read"])
    assert expect_oauth_error(lambda: call(mode, client, "userinfo", expired)).error == (
        "invalid_token"
    )
    assert expect_oauth_error(lambda: call(mode, client, "userinfo", without_scope)).error == (
        "insufficient_scope"
    )


def test_userinfo_reads_the_error_from_www_authenticate(server: OAuthServer, mode: str) -> None:
    challenge = {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="gone"'}
    server.inject("/oauth2/userInfo", Response(401, b"", challenge))
    error = expect_oauth_error(lambda: call(mode, server.client(), "userinfo", "a.b.c"))
    assert (error.error, error.description, error.status_code) == ("invalid_token", "gone", 401)


@pytest.mark.parametrize(
    ("operation", "aws_type", "message", "expected"),
    [
        ("refresh", "NotAuthorizedException", "Invalid Refresh Token", "invalid_grant"),
        ("refresh", "NotAuthorizedException", "Unable to verify secret hash", "invalid_client"),
        ("refresh", "UserNotFoundException", "User does not exist.", "invalid_grant"),
        ("refresh", "ResourceNotFoundException", "client does not exist", "invalid_client"),
        ("refresh", "InvalidParameterException", "Missing REFRESH_TOKEN", "invalid_request"),
        ("revoke", "UnauthorizedException", "", "invalid_client"),
        ("revoke", "UnsupportedTokenTypeException", "", "unsupported_token_type"),
        ("revoke", "UnsupportedOperationException", "", "unauthorized_client"),
        ("userinfo", "NotAuthorizedException", "Access Token has expired", "invalid_token"),
        (
            "userinfo",
            "NotAuthorizedException",
            "does not have required scopes",
            "insufficient_scope",
        ),
        ("userinfo", "UserNotFoundException", "", "invalid_token"),
    ],
)
def test_user_pool_api_error_types_are_mapped_to_oauth_codes(
    public: OAuthServer, mode: str, operation: str, aws_type: str, message: str, expected: str
) -> None:
    public.inject_api_error(f"com.amazonaws.cognito#{aws_type}", message)
    client = public.api_client()
    error = expect_oauth_error(lambda: call(mode, client, operation, "opaque-value"))
    assert error.error == expected
    assert error.aws_error_type == aws_type


def test_natural_user_pool_api_errors(server: OAuthServer, mode: str) -> None:
    refresh_token = server.issue_refresh_token("alice")
    wrong_secret = expect_oauth_error(
        lambda: call(mode, _wrong_secret(server, "api"), "refresh", refresh_token, username="alice")
    )
    other_client = CognitoTokenClient("some0other0client", SECRET, endpoint_url=server.api_url)
    unknown_client = expect_oauth_error(
        lambda: call(mode, other_client, "refresh", refresh_token, username="alice")
    )
    assert (wrong_secret.error, wrong_secret.aws_error_type) == (
        "invalid_client",
        "NotAuthorizedException",
    )
    assert (unknown_client.error, unknown_client.aws_error_type) == (
        "invalid_client",
        "ResourceNotFoundException",
    )


# -- outages are not verdicts --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Response.json({"error": "server_error"}, 500),
        Response(503, b"<html>Service Unavailable</html>"),
        Response.json({"error": "slow_down"}, 429),
        Response(200, b"<html>not json</html>"),
        Response.json({"token_type": "Bearer"}),  # 200 without an access token
        Response(400, b"<html>Bad Request</html>"),
        Response(302, b"", {"Location": "https://elsewhere.example/"}),
    ],
    ids=["500", "503-html", "429", "200-html", "200-no-token", "400-html", "redirect"],
)
def test_unusable_answers_raise_token_endpoint_unavailable(
    server: OAuthServer, mode: str, fault: Response
) -> None:
    server.inject("/oauth2/token", fault)
    with pytest.raises(TokenEndpointUnavailable) as info:
        call(mode, server.client(), "client_credentials")
    assert not isinstance(info.value, OAuthError)


@pytest.mark.parametrize("aws_type", ["TooManyRequestsException", "InternalErrorException"])
def test_throttling_and_internal_errors_of_the_api_are_outages(
    public: OAuthServer, mode: str, aws_type: str
) -> None:
    public.inject_api_error(aws_type, "try later")
    with pytest.raises(TokenEndpointUnavailable, match=aws_type):
        call(mode, public.api_client(), "refresh", "rt-x")


def test_a_refused_connection_is_token_endpoint_unavailable(mode: str) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = CognitoTokenClient("cid", SECRET, domain=f"http://127.0.0.1:{port}")
    with pytest.raises(TokenEndpointUnavailable, match="could not be reached"):
        call(mode, client, "client_credentials")


class _TimeoutTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A timeout cannot be produced on demand by a real server quickly; inject one."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)


def test_a_timeout_is_token_endpoint_unavailable(mode: str) -> None:
    transport = _TimeoutTransport()
    client = CognitoTokenClient(
        "cid",
        SECRET,
        domain="https://auth.example.com",
        transport=transport,
        async_transport=transport,
    )
    with pytest.raises(TokenEndpointUnavailable, match="timed out"):
        call(mode, client, "refresh", "rt-x")


# -- secrets stay secret -------------------------------------------------------------------------


def test_no_secret_token_or_verifier_in_errors_reprs_or_logs(
    server: OAuthServer, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cognito_guard")
    refresh_token = server.issue_refresh_token()
    client = server.client()
    tokens = call(mode, client, "refresh", refresh_token)
    pair = make_pkce_pair()
    # A server that echoes what it was sent must not leak it through our error text.
    server.inject(
        "/oauth2/token",
        Response.json(
            {"error": "invalid_grant", "error_description": f"bad {refresh_token} / {SECRET}"}, 400
        ),
    )
    echoed = expect_oauth_error(lambda: call(mode, client, "refresh", refresh_token))
    code = server.issue_code(redirect_uri=REDIRECT, code_challenge=make_pkce_pair().challenge)
    bad_pkce = expect_oauth_error(
        lambda: call(
            mode, client, "exchange_code", code, redirect_uri=REDIRECT, code_verifier=pair.verifier
        )
    )
    secrets = [SECRET, refresh_token, tokens.access_token, tokens.id_token, pair.verifier, code]
    texts = [str(echoed), repr(echoed), str(bad_pkce), repr(tokens), repr(client), repr(pair)]
    texts += [record.getMessage() for record in caplog.records]
    assert "[redacted]" in str(echoed)
    for text in texts:
        for secret in secrets:
            assert secret not in text
