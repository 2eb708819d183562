"""RFC 9728 protected-resource metadata: the URL, the document and the challenge parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cognito_guard import (
    CognitoVerifier,
    ConfigurationError,
    InsufficientScopeError,
    MissingTokenError,
)
from cognito_guard.bearer import BearerGuard
from cognito_guard.resource import WELL_KNOWN, ProtectedResource, check_resource, metadata_url

POOL = "eu-west-1_AbCdEf123"
ORIGINAL = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
UPDATED = f"https://issuer-cognito-idp.eu-west-1.amazonaws.com/{POOL}"
OTHER_POOL = "us-east-1_Other1"


def _verifier(**options: Any) -> CognitoVerifier:
    options.setdefault("user_pool_id", POOL)
    return CognitoVerifier(client_id="c", **options)  # no I/O: keys are fetched on use


@pytest.mark.parametrize(
    ("resource", "url"),
    [
        ("https://api.example.com", f"https://api.example.com{WELL_KNOWN}"),
        ("https://api.example.com/", f"https://api.example.com{WELL_KNOWN}"),
        ("https://api.example.com/orders", f"https://api.example.com{WELL_KNOWN}/orders"),
        ("https://api.example.com/v1/mcp/", f"https://api.example.com{WELL_KNOWN}/v1/mcp/"),
        ("https://api.example.com:8443/mcp", f"https://api.example.com:8443{WELL_KNOWN}/mcp"),
        ("http://127.0.0.1:8000/mcp", f"http://127.0.0.1:8000{WELL_KNOWN}/mcp"),
        ("http://localhost:8000", f"http://localhost:8000{WELL_KNOWN}"),
    ],
)
def test_the_metadata_url_puts_the_well_known_path_between_host_and_path(
    resource: str, url: str
) -> None:
    # RFC 9728 section 3.1, including its example: resource1 below the host.
    assert metadata_url(resource) == url
    assert ProtectedResource.for_verifier(resource, _verifier()).metadata_url == url


def test_the_rfcs_own_example() -> None:
    assert metadata_url("https://resource.example.com/resource1") == (
        "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
    )


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "api.example.com",
        "/orders",
        "http://api.example.com",  # plain http off loopback
        "ftp://api.example.com",
        "https://",
        "https://api.example.com/#frag",
        "https://api.example.com/?tenant=a",
        "https://api.example.com/a b",
        "https://api.example.com/\x00",
        "https://[::1",
    ],
)
def test_a_resource_that_is_no_https_url_is_refused(resource: str) -> None:
    with pytest.raises(ConfigurationError):
        check_resource(resource)
    with pytest.raises(ConfigurationError):
        ProtectedResource.for_verifier(resource, _verifier())


def test_the_document_names_one_issuer_per_pool_and_the_header_method() -> None:
    verifier = _verifier(user_pool_id=[POOL, OTHER_POOL], scopes=["orders/read"])
    resource = ProtectedResource.for_verifier("https://api.example.com", verifier)
    assert resource.document() == {
        "resource": "https://api.example.com",
        "authorization_servers": [
            ORIGINAL,
            f"https://cognito-idp.us-east-1.amazonaws.com/{OTHER_POOL}",
        ],
        "scopes_supported": ["orders/read"],
        "bearer_methods_supported": ["header"],
    }
    assert json.loads(resource.body()) == resource.document()


def test_the_issuer_listed_is_one_the_verifier_accepts() -> None:
    updated_only = _verifier(issuer_form="updated")
    resource = ProtectedResource.for_verifier("https://api.example.com", updated_only)
    assert resource.authorization_servers == (UPDATED,)
    local = CognitoVerifier(issuer="http://127.0.0.1:9229/local", client_id="c")
    assert ProtectedResource.for_verifier("https://a.example", local).authorization_servers == (
        "http://127.0.0.1:9229/local",
    )


def test_scopes_and_name_when_given() -> None:
    resource = ProtectedResource.for_verifier(
        "https://mcp.example.com/mcp",
        _verifier(scopes=["orders/read"]),
        scopes_supported=["orders/read", "orders/write"],
        resource_name="Orders MCP",
    )
    assert resource.document()["scopes_supported"] == ["orders/read", "orders/write"]
    assert resource.document()["resource_name"] == "Orders MCP"
    no_scopes = ProtectedResource.for_verifier("https://mcp.example.com/mcp", _verifier())
    assert "scopes_supported" not in no_scopes.document()


def test_a_verifier_with_an_audience_must_accept_the_resource() -> None:
    verifier = _verifier(audience=["https://mcp.example.com/mcp"])
    ProtectedResource.for_verifier("https://mcp.example.com/mcp", verifier)
    with pytest.raises(ConfigurationError, match="not one of the verifier's audiences"):
        ProtectedResource.for_verifier("https://mcp.example.com/mcp/", verifier)


def test_the_challenge_parameter_joins_any_bearer_challenge() -> None:
    resource = ProtectedResource.for_verifier("https://api.example.com/orders", _verifier())
    parameter = (
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/orders"'
    )
    assert resource.challenge_parameter == parameter
    assert resource.challenge("Bearer") == f"Bearer {parameter}"
    assert resource.challenge('Bearer realm="orders"') == f'Bearer realm="orders", {parameter}'
    assert resource.challenge('Bearer error="invalid_token", error_description="x"') == (
        f'Bearer error="invalid_token", error_description="x", {parameter}'
    )


def test_the_metadata_path_is_for_a_router() -> None:
    resource = ProtectedResource.for_verifier("https://api.example.com/orders/", _verifier())
    assert resource.metadata_path == f"{WELL_KNOWN}/orders/"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"authorization_servers": ()}, "at least one issuer"),
        ({"authorization_servers": ("",)}, "authorization_servers"),
        ({"scopes_supported": ("orders/read orders/write",)}, "scopes_supported"),
        ({"resource_name": 5}, "resource_name"),
    ],
)
def test_a_hand_made_document_is_checked(fields: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"resource": "https://a.example", "authorization_servers": (ORIGINAL,)}
    with pytest.raises(ConfigurationError, match=message):
        ProtectedResource(**{**values, **fields})


def test_a_lone_string_is_one_name() -> None:
    resource = ProtectedResource("https://a.example", ORIGINAL, "orders/read")  # type: ignore[arg-type]
    assert (resource.authorization_servers, resource.scopes_supported) == (
        (ORIGINAL,),
        ("orders/read",),
    )


def test_the_response_to_each_method_of_the_metadata_path() -> None:
    resource = ProtectedResource.for_verifier("https://api.example.com", _verifier())
    get = resource.response("GET")
    assert (get.status, get.body) == (200, resource.body())
    assert json.loads(get.body) == resource.document()
    assert dict(get.headers) == {
        "Content-Type": "application/json",
        "Content-Length": str(len(resource.body())),
        "Cache-Control": "public, max-age=3600",
        "Access-Control-Allow-Origin": "*",
    }
    head = resource.response("HEAD")
    assert (head.status, head.headers, head.body) == (200, get.headers, b"")
    preflight = resource.response("OPTIONS")
    assert (preflight.status, preflight.body) == (204, b"")
    assert dict(preflight.headers)["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Content-Length" not in dict(preflight.headers)  # RFC 9110: none on a 204
    post = resource.response("POST")
    assert (post.status, dict(post.headers)["Allow"]) == (405, "GET, HEAD, OPTIONS")


def test_a_guard_with_a_resource_names_it_in_every_challenge() -> None:
    verifier = _verifier(audience="https://api.example.com/orders")
    guard = BearerGuard(verifier, realm="orders", resource="https://api.example.com/orders")
    parameter = (
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/orders"'
    )
    assert guard.www_authenticate(MissingTokenError("x")) == f'Bearer realm="orders", {parameter}'
    answer = guard.answer(InsufficientScopeError("x", ["orders/write"]))
    challenge = dict(answer.headers)["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="orders", error="insufficient_scope"')
    assert challenge.endswith(f'scope="orders/write", {parameter}')
    assert BearerGuard(verifier).www_authenticate(MissingTokenError("x")) == "Bearer"
