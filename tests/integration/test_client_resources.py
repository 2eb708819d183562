"""The token client's ``resource=`` (RFC 8707) against the OAuth double, which binds by Cognito's
rules: one resource at ``/oauth2/authorize``, named again (or not) at the token endpoint, never
for client credentials; a refused resource is ``invalid_target``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard import InvalidAudienceError
from cognito_guard.client import CognitoTokenClient, OAuthError
from cognito_guard.errors import ConfigurationError
from cognito_guard.testing import LocalIssuer, OAuthServer

from ._oauth_support import SECRET, call

REDIRECT = "https://app.example.com/callback"
API = "https://api.example.com"
OTHER = "https://other.example.com"


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def server(issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with issuer.serve_oauth(client_secret=SECRET, resources=[API, OTHER]) as running:
        yield running


def _signed_in(client: CognitoTokenClient, resource: str | None) -> tuple[str, Any]:
    """The code of a sign-in through the double's ``/oauth2/authorize``, and its request."""
    auth = client.authorization_request(
        REDIRECT, scopes=["openid", "orders/read"], resource=resource
    )
    redirect = httpx.get(auth.url, follow_redirects=False)
    assert redirect.status_code == 302, redirect.text
    params = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert "error" not in params, params
    return params["code"][0], auth


def _aud(issuer: LocalIssuer, server: OAuthServer, token: str) -> object:
    return issuer.verifier(jwks_uri=server.jwks_uri, audience=API).verify(token).get("aud")


def test_the_authorize_url_carries_one_resource_parameter(server: OAuthServer) -> None:
    auth = server.client().authorization_request(REDIRECT, resource=API)
    assert parse_qs(urlsplit(auth.url).query)["resource"] == [API]
    assert "resource" not in parse_qs(
        urlsplit(server.client().authorization_request(REDIRECT).url).query
    )


def test_a_code_exchanged_with_its_resource_gives_an_access_token_for_it(
    issuer: LocalIssuer, server: OAuthServer, mode: str
) -> None:
    client = server.client()
    code, auth = _signed_in(client, API)
    tokens = call(
        mode,
        client,
        "exchange_code",
        code,
        redirect_uri=REDIRECT,
        code_verifier=auth.code_verifier,
        resource=API,
    )
    assert _aud(issuer, server, tokens.access_token) == API


def test_a_code_exchanged_without_the_resource_keeps_the_binding_of_its_sign_in(
    issuer: LocalIssuer, server: OAuthServer
) -> None:
    client = server.client()
    code, auth = _signed_in(client, API)
    tokens = client.exchange_code(code, redirect_uri=REDIRECT, code_verifier=auth.code_verifier)
    assert _aud(issuer, server, tokens.access_token) == API


def test_a_sign_in_without_a_resource_gives_a_token_the_audience_check_refuses(
    issuer: LocalIssuer, server: OAuthServer
) -> None:
    client = server.client()
    code, auth = _signed_in(client, None)
    tokens = client.exchange_code(code, redirect_uri=REDIRECT, code_verifier=auth.code_verifier)
    with pytest.raises(InvalidAudienceError):
        _aud(issuer, server, tokens.access_token)


def test_exchanging_a_code_for_another_resource_is_invalid_target(
    server: OAuthServer, mode: str
) -> None:
    client = server.client()
    code, auth = _signed_in(client, API)
    with pytest.raises(OAuthError) as caught:
        call(
            mode,
            client,
            "exchange_code",
            code,
            redirect_uri=REDIRECT,
            code_verifier=auth.code_verifier,
            resource=OTHER,
        )
    assert caught.value.error == "invalid_target"


def test_a_refresh_may_name_the_resource_again_but_no_other(
    issuer: LocalIssuer, server: OAuthServer, mode: str
) -> None:
    client = server.client()
    code, auth = _signed_in(client, API)
    tokens = client.exchange_code(code, redirect_uri=REDIRECT, code_verifier=auth.code_verifier)
    assert tokens.refresh_token is not None
    fresh = call(mode, client, "refresh", tokens.refresh_token, resource=API)
    assert _aud(issuer, server, fresh.access_token) == API
    kept = call(mode, client, "refresh", tokens.refresh_token)
    assert _aud(issuer, server, kept.access_token) == API
    with pytest.raises(OAuthError) as caught:
        call(mode, client, "refresh", tokens.refresh_token, resource=OTHER)
    assert caught.value.error == "invalid_target"


def test_a_resource_the_pool_does_not_allow_is_refused_at_authorize(server: OAuthServer) -> None:
    auth = server.client().authorization_request(REDIRECT, resource="https://unknown.example.com")
    redirect = httpx.get(auth.url, follow_redirects=False)
    assert redirect.status_code == 302
    assert parse_qs(urlsplit(redirect.headers["location"]).query)["error"] == ["invalid_target"]


def test_client_credentials_with_a_resource_is_a_configuration_error(
    server: OAuthServer, mode: str
) -> None:
    with pytest.raises(ConfigurationError, match="Cognito binds only a user's sign-in"):
        call(mode, server.client(), "client_credentials", ["orders/read"], resource=API)


def test_the_double_refuses_client_credentials_bound_to_a_resource(server: OAuthServer) -> None:
    # What Cognito does, and why the client refuses before sending.
    response = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "client_credentials", "resource": API},
        auth=(server.client_id, SECRET),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_a_refresh_through_the_user_pool_api_takes_no_resource(server: OAuthServer) -> None:
    with pytest.raises(ConfigurationError, match="the user-pool API's refresh has none"):
        server.api_client().refresh("any-refresh-token", resource=API)


@pytest.mark.parametrize(
    "resource",
    [
        [API],  # one resource per request, as Cognito binds
        "api.example.com",  # not an absolute URI
        f"{API}/#part",  # a fragment
        "https://api.example.com/a b",  # whitespace
        "urn:example:orders",  # no host: Cognito takes URLs with one
    ],
)
def test_a_resource_that_cannot_be_sent_is_refused_before_any_request(
    server: OAuthServer, resource: Any
) -> None:
    client = server.client()
    with pytest.raises(ConfigurationError, match="resource"):
        client.authorization_request(REDIRECT, resource=resource)
    with pytest.raises(ConfigurationError, match="resource"):
        client.exchange_code("code", redirect_uri=REDIRECT, resource=resource)
    with pytest.raises(ConfigurationError, match="resource"):
        client.refresh("refresh-token", resource=resource)
