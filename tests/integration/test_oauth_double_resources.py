"""The OAuth double's resource binding (RFC 8707), discovery document and client_secret_post."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from cognito_guard import CognitoVerifier, InvalidAudienceError
from cognito_guard.testing import LocalIssuer, OAuthServer

REDIRECT = "https://app.example/callback"
SECRET = "s3cret-client-secret-value"
MCP = "https://mcp.example.com/mcp"
API = "https://api.example.com"


@pytest.fixture
def server(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth(client_secret=SECRET, resources=[MCP, API]) as running:
        yield running


def _verifier(server: OAuthServer, audience: str | Sequence[str] | None = None) -> CognitoVerifier:
    return server.issuer.verifier(jwks_uri=server.jwks_uri, audience=audience, token_cache_size=0)


def _authorize(server: OAuthServer, *resources: str, state: str = "st") -> httpx.Response:
    query = [
        ("client_id", server.client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid orders/read"),
        ("state", state),
        *(("resource", resource) for resource in resources),
    ]
    return httpx.get(f"{server.url}/oauth2/authorize?{urlencode(query)}")


def _redirect_params(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _token(server: OAuthServer, form: Sequence[tuple[str, str]]) -> httpx.Response:
    # Encoded by hand: httpx's data= is a mapping, and RFC 8707 repeats ``resource``.
    return httpx.post(
        f"{server.url}/oauth2/token",
        content=urlencode(form),
        headers=_FORM,
        auth=(server.client_id, SECRET),
    )


def _redeem(server: OAuthServer, code: str, *resources: str) -> httpx.Response:
    form = [("grant_type", "authorization_code"), ("code", code), ("redirect_uri", REDIRECT)]
    return _token(server, form + [("resource", resource) for resource in resources])


def _aud(server: OAuthServer, body: dict[str, Any]) -> object:
    return _verifier(server).verify(body["access_token"]).get("aud", "(none)")


# -- the authorization code grant -----------------------------------------------------------------


def test_a_resource_asked_for_at_authorize_is_the_access_tokens_aud(server: OAuthServer) -> None:
    code = _redirect_params(_authorize(server, MCP))["code"][0]
    tokens = _redeem(server, code).json()
    claims = _verifier(server, audience=MCP).verify(tokens["access_token"])
    assert claims["aud"] == MCP
    # The ID token's aud stays the app client.
    id_claims = _verifier(server).for_id_tokens().verify(tokens["id_token"])
    assert id_claims["aud"] == server.client_id
    # A verifier of another resource refuses the token.
    with pytest.raises(InvalidAudienceError):
        _verifier(server, audience=API).verify(tokens["access_token"])


def test_without_a_resource_the_access_token_has_no_aud(server: OAuthServer) -> None:
    code = _redirect_params(_authorize(server))["code"][0]
    tokens = _redeem(server, code).json()
    assert _aud(server, tokens) == "(none)"
    with pytest.raises(InvalidAudienceError, match="no 'aud' claim"):
        _verifier(server, audience=MCP).verify(tokens["access_token"])


def test_the_token_request_may_name_the_bound_resource_but_no_other(server: OAuthServer) -> None:
    # RFC 8707 clients (the MCP SDK's among them) send the resource to both endpoints.
    code = _redirect_params(_authorize(server, MCP))["code"][0]
    assert _aud(server, _redeem(server, code, MCP).json()) == MCP
    code = _redirect_params(_authorize(server, MCP))["code"][0]
    refused = _redeem(server, code, API)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")
    # Cognito binds at /oauth2/authorize only: a code without a resource cannot gain one.
    code = _redirect_params(_authorize(server))["code"][0]
    refused = _redeem(server, code, MCP)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")


@pytest.mark.parametrize(
    "resources",
    [
        ["https://other.example.com"],  # not one of the resources the double was given
        [MCP, API],  # Cognito: one resource per request
        ["mcp.example.com"],
        [MCP + "#fragment"],
        [""],
    ],
)
def test_authorize_refuses_a_resource_it_cannot_bind(
    server: OAuthServer, resources: list[str]
) -> None:
    params = _redirect_params(_authorize(server, *resources, state="s1"))
    assert params["error"] == ["invalid_target"]
    assert params["state"] == ["s1"]
    assert "code" not in params


@pytest.mark.parametrize(
    ("resource", "bound"),
    [
        ("https://any.example.com/api", True),
        ("http://localhost:8000/mcp", True),
        ("myapp://orders", True),
        ("http://127.0.0.1:8000/mcp", False),  # plain http only for localhost, as in Cognito
        ("http://api.example.com", False),
        ("https://", False),
        ("orders-api", False),
    ],
)
def test_by_default_any_url_cognito_accepts_is_bound(
    cognito_issuer: LocalIssuer, resource: str, bound: bool
) -> None:
    with cognito_issuer.serve_oauth() as default:
        params = _redirect_params(_authorize(default, resource))
        if bound:
            tokens = httpx.post(
                f"{default.url}/oauth2/token",
                data={
                    "grant_type": "authorization_code",
                    "code": params["code"][0],
                    "redirect_uri": REDIRECT,
                    "client_id": default.client_id,
                },
            ).json()
            assert _aud(default, tokens) == resource
        else:
            assert params["error"] == ["invalid_target"]


def test_the_sign_in_form_keeps_the_resource(server: OAuthServer) -> None:
    server.add_user("bob", password="pw")  # the form is shown instead of signing in at once
    shown = _authorize(server, MCP)
    assert shown.status_code == 200
    query = urlencode(
        [
            ("client_id", server.client_id),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid"),
            ("resource", MCP),
        ]
    )
    signed_in = httpx.post(
        f"{server.url}/login",
        data={"query": query, "username": "bob", "password": "pw", "action": "sign_in"},
    )
    code = _redirect_params(signed_in)["code"][0]
    assert _aud(server, _redeem(server, code).json()) == MCP


# -- refresh and client credentials ---------------------------------------------------------------


def test_refreshed_access_tokens_keep_the_sign_ins_resource(server: OAuthServer) -> None:
    code = _redirect_params(_authorize(server, MCP))["code"][0]
    refresh_token = _redeem(server, code).json()["refresh_token"]
    refresh = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    assert _aud(server, _token(server, refresh).json()) == MCP
    assert _aud(server, _token(server, [*refresh, ("resource", MCP)]).json()) == MCP
    refused = _token(server, [*refresh, ("resource", API)])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")


def test_a_sign_in_bound_to_several_resources_may_be_narrowed(server: OAuthServer) -> None:
    refresh_token = server.issue_refresh_token("alice", resources=[MCP, API])
    refresh = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    assert _aud(server, _token(server, refresh).json()) == [MCP, API]
    assert _aud(server, _token(server, [*refresh, ("resource", API)]).json()) == API


def test_a_refused_refresh_leaves_a_rotating_refresh_token_usable(server: OAuthServer) -> None:
    server.rotate_refresh_tokens = True
    refresh_token = server.issue_refresh_token("alice", resources=[MCP])
    refresh = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
    refused = _token(server, [*refresh, ("resource", API)])  # not the sign-in's resource
    assert refused.json()["error"] == "invalid_target"
    assert not server.is_revoked(refresh_token)
    assert _aud(server, _token(server, refresh).json()) == MCP


def test_client_credentials_cannot_be_bound_to_a_resource(server: OAuthServer) -> None:
    # Cognito binds resources for users only, not for client-credentials (M2M) grants.
    form = [("grant_type", "client_credentials"), ("scope", "orders/read")]
    assert _aud(server, _token(server, form).json()) == "(none)"
    refused = _token(server, [*form, ("resource", MCP)])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_target")


def test_the_allowed_resources_are_settable_while_running(server: OAuthServer) -> None:
    other = "https://other.example.com"
    assert _redirect_params(_authorize(server, other))["error"] == ["invalid_target"]
    server.resources = (other,)
    assert "code" in _redirect_params(_authorize(server, other))
    server.resources = None  # any URL Cognito accepts
    assert "code" in _redirect_params(_authorize(server, "https://third.example.com"))


def test_other_parameters_still_may_not_repeat(server: OAuthServer) -> None:
    form = [("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")]
    refused = _token(server, form)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")


# -- client_secret_post ---------------------------------------------------------------------------


def test_the_secret_may_come_in_the_body(server: OAuthServer) -> None:
    form = {"grant_type": "client_credentials", "client_id": server.client_id}
    answer = httpx.post(f"{server.url}/oauth2/token", data={**form, "client_secret": SECRET})
    assert answer.status_code == 200, answer.text
    wrong = httpx.post(f"{server.url}/oauth2/token", data={**form, "client_secret": "nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    missing = httpx.post(f"{server.url}/oauth2/token", data=form)
    assert (missing.status_code, missing.json()["error"]) == (401, "invalid_client")
    both = httpx.post(
        f"{server.url}/oauth2/token",
        data={**form, "client_secret": SECRET},
        auth=(server.client_id, SECRET),
    )
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")


# -- the discovery document -----------------------------------------------------------------------


def test_the_discovery_document_is_served_at_the_issuers_path(server: OAuthServer) -> None:
    issuer = server.issuer.issuer  # https://cognito-idp.us-east-1.amazonaws.com/us-east-1_...
    assert server.discovery_url == (
        f"{server.url}{urlsplit(issuer).path}/.well-known/openid-configuration"
    )
    answer = httpx.get(server.discovery_url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    document = answer.json()
    assert document == {
        "authorization_endpoint": f"{server.url}/oauth2/authorize",
        "end_session_endpoint": f"{server.url}/logout",
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": issuer,
        "jwks_uri": server.jwks_uri,
        "response_types_supported": ["code", "token"],
        "revocation_endpoint": f"{server.url}/oauth2/revoke",
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint": f"{server.url}/oauth2/token",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "userinfo_endpoint": f"{server.url}/oauth2/userInfo",
    }
    # Like Cognito's: no PKCE methods advertised, no dynamic client registration.
    assert "code_challenge_methods_supported" not in document
    assert "registration_endpoint" not in document
    # The advertised JWKS verifies the tokens of the advertised issuer.
    keys = httpx.get(document["jwks_uri"]).json()
    assert {key["kid"] for key in keys["keys"]} == set(server.issuer.published_kids)


def test_the_discovery_document_follows_a_local_issuer(cognito_signing_keys: list[Any]) -> None:
    issuer = LocalIssuer(keys=cognito_signing_keys, issuer="http://127.0.0.1:1/tenants/acme")
    with issuer.serve_oauth() as server:
        assert server.discovery_url == f"{server.url}/tenants/acme/.well-known/openid-configuration"
        document = httpx.get(server.discovery_url).json()
        assert document["issuer"] == "http://127.0.0.1:1/tenants/acme"
        assert document["jwks_uri"] == f"{server.url}/tenants/acme/.well-known/jwks.json"
        assert httpx.get(document["jwks_uri"]).status_code == 200
        elsewhere = httpx.get(f"{server.url}/other/.well-known/openid-configuration")
        assert elsewhere.status_code == 404
        assert httpx.post(server.discovery_url).status_code == 405
