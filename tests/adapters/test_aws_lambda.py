"""AWS Lambda: the authorizer for every gateway, and proxy handlers under every event kind.

Handlers are invoked as the Lambda runtime does, ``handler(event, context)``, with the events of
:mod:`cognito_guard.testing.lambda_events`, against a local issuer whose keys come from a real
loopback JWKS server.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
import yaml

from cognito_guard import (
    CognitoClaims,
    CognitoVerifier,
    ConfigurationError,
    KeyPolicy,
    KeysUnavailableError,
    MissingTokenError,
    Requirement,
    ServiceUnavailableError,
)
from cognito_guard.integrations import aws_lambda
from cognito_guard.integrations.aws_lambda import (
    LambdaGuard,
    authorizer,
    claims_of,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.revocation import MemoryRevocations
from cognito_guard.testing import JWKSServer, LocalIssuer, ManualClock
from cognito_guard.testing import lambda_events as events

from . import matrix
from ._uvicorn import uvicorn_thread

PROTECT: dict[str, Requirement | None] = {
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "/admin": Requirement.of(groups="admins"),
    "/": Requirement(),
}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("USER_POOL_ID", "CLIENT_ID", "TOKEN_USE", "JWKS_URI", "ISSUER", "SCOPES"):
        monkeypatch.delenv("COGNITO_" + name, raising=False)
    monkeypatch.setattr(aws_lambda.default_guard(), "_built", None)


@pytest.fixture(scope="module")
def verifier(issuer: LocalIssuer, jwks: JWKSServer) -> CognitoVerifier:
    return issuer.verifier(jwks_uri=jwks.jwks_uri)


@pytest.fixture(scope="module")
def guard(verifier: CognitoVerifier) -> LambdaGuard:
    return LambdaGuard(verifier)


def unauthorized(call: Callable[[], Any]) -> None:
    """Assert that ``call`` raises exactly ``Exception("Unauthorized")``: API Gateway's 401."""
    with pytest.raises(Exception) as caught:  # the exact class is checked below
        call()
    assert type(caught.value) is Exception
    assert caught.value.args == ("Unauthorized",)


# -- proxy handlers: the reference app under every event kind --------------------------------


def reference_handlers(guard: LambdaGuard) -> dict[tuple[str, str], Callable[..., Any]]:
    """The matrix's reference routes as decorated Lambda handlers."""

    def respond(status: int, body: Any) -> dict[str, Any]:
        return {"statusCode": status, "body": json.dumps(body)}

    def public(event: Any, context: Any) -> dict[str, Any]:
        return respond(200, {"ok": True})

    @guard.require_auth
    def me(event: Any, context: Any) -> dict[str, Any]:
        claims = guard.claims(event)
        return respond(
            200, {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}
        )

    @guard.require_scope("orders/read")
    def list_orders(event: Any, context: Any) -> dict[str, Any]:
        return respond(200, {"user": guard.claims(event).sub, "orders": []})

    @guard.require_scope("orders/write")
    def create_order(event: Any, context: Any) -> dict[str, Any]:
        return respond(201, {"user": guard.claims(event).sub, "created": True})

    @guard.require_group("admins")
    def admin(event: Any, context: Any) -> dict[str, Any]:
        return respond(200, {"user": guard.claims(event).sub})

    return {
        ("GET", "/public"): public,
        ("GET", "/me"): me,
        ("GET", "/orders"): list_orders,
        ("POST", "/orders"): create_order,
        ("GET", "/admin"): admin,
    }


def proxy_event(kind: str, method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    if kind == "rest":
        return events.rest_proxy_event(method, path, headers=headers)
    if kind == "http":
        return events.http_api_proxy_event(method, path, headers=headers)
    if kind == "url":
        return events.function_url_event(method, path, headers=headers)
    return events.alb_event(method, path, headers=headers, multi_value=kind == "alb-multi")


def response_headers(response: Mapping[str, Any]) -> dict[str, str]:
    """The response's headers, lower-case names (the matrix reads them case-insensitively)."""
    if "multiValueHeaders" in response:
        assert "headers" not in response
        return {k.lower(): ", ".join(v) for k, v in response["multiValueHeaders"].items()}
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}


KINDS = ("rest", "http", "url", "alb", "alb-multi")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_through_proxy_events(
    case: matrix.Case,
    kind: str,
    guard: LambdaGuard,
    issuer: LocalIssuer,
    other_issuer: LocalIssuer,
) -> None:
    handler = reference_handlers(guard)[case.method, case.path]
    event = proxy_event(
        kind, case.method, case.path, matrix.headers_for(case, issuer, other_issuer)
    )
    response = handler(event, None)
    matrix.check(
        case, response["statusCode"], response_headers(response), json.loads(response["body"])
    )


def test_alb_answers_carry_its_fields_in_the_events_header_form(
    guard: LambdaGuard, issuer: LocalIssuer
) -> None:
    handler = reference_handlers(guard)["GET", "/orders"]
    single = handler(events.alb_event("GET", "/orders"), None)
    assert single["statusCode"] == 401
    assert single["statusDescription"] == "401 Unauthorized"
    assert single["isBase64Encoded"] is False
    assert single["headers"]["WWW-Authenticate"] == "Bearer"
    assert "multiValueHeaders" not in single
    token = issuer.access_token(scopes=["openid"])
    multi = handler(events.alb_event("GET", "/orders", token=token, multi_value=True), None)
    assert multi["statusCode"] == 403
    assert multi["statusDescription"] == "403 Forbidden"
    assert multi["isBase64Encoded"] is False
    assert "headers" not in multi
    assert multi["multiValueHeaders"]["Content-Type"] == ["application/json"]
    assert multi["multiValueHeaders"]["WWW-Authenticate"] == [
        'Bearer error="insufficient_scope", error_description="The token lacks a required '
        'scope", scope="orders/read"'
    ]


def test_a_rejection_never_calls_the_handler(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    calls: list[Any] = []

    @guard.require_scope("orders/write")
    def handler(event: Any, context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"statusCode": 200}

    reader = issuer.access_token(scopes=["orders/read"])
    for event in (
        events.rest_proxy_event("POST", "/orders"),
        events.rest_proxy_event("POST", "/orders", token=reader),
        events.http_api_proxy_event("POST", "/orders", authorization="Basic dXNlcjpwYXNz"),
        events.function_url_event("POST", "/orders", token="not.a.jwt"),
    ):
        assert handler(event, None)["statusCode"] in (400, 401, 403)
    assert calls == []
    writer = issuer.access_token(scopes=["orders/write"])
    assert handler(events.alb_event("POST", "/orders", token=writer), "ctx")["statusCode"] == 200
    assert len(calls) == 1


def test_headers_are_read_as_each_event_carries_them(
    guard: LambdaGuard, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(scopes=["orders/read"])
    handler = reference_handlers(guard)["GET", "/orders"]

    rest = events.rest_proxy_event("GET", "/orders", token=token)
    rest["headers"] = None  # either field may be null: multiValueHeaders alone carries it
    assert handler(rest, None)["statusCode"] == 200
    rest = events.rest_proxy_event("GET", "/orders", token=token)
    rest["multiValueHeaders"] = None
    rest["headers"] = {"AUTHORIZATION": "Bearer " + token}  # any case of the name
    assert handler(rest, None)["statusCode"] == 200

    nothing = events.rest_proxy_event("GET", "/orders", no_headers=True)
    assert nothing["headers"] is None and nothing["multiValueHeaders"] is None
    assert handler(nothing, None)["statusCode"] == 401

    twice = events.rest_proxy_event("GET", "/orders", token=token)
    twice["multiValueHeaders"]["Authorization"] = ["Bearer " + token, "Bearer " + token]
    answer = handler(twice, None)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["error"] == "invalid_request"

    # HTTP API 2.0 joins repeated headers with commas: never taken for one token.
    joined = events.http_api_proxy_event("GET", "/orders", token=token)
    joined["headers"]["authorization"] = f"Bearer {token},Bearer {token}"
    assert handler(joined, None)["statusCode"] == 400


def test_keys_unavailable_answers_503_with_retry_after(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    jwks.status = 500
    try:
        down = LambdaGuard(
            issuer.verifier(jwks_uri=jwks.jwks_uri, key_policy=KeyPolicy(backoff_initial=5))
        )
        handler = reference_handlers(down)["GET", "/me"]
        token = issuer.access_token()
        for event in (
            events.rest_proxy_event("GET", "/me", token=token),
            events.http_api_proxy_event("GET", "/me", token=token),
            events.alb_event("GET", "/me", token=token, multi_value=True),
        ):
            response = handler(event, None)
            assert response["statusCode"] == 503
            headers = response_headers(response)
            assert headers["retry-after"] == "5"
            assert headers["cache-control"] == "no-store"
            assert json.loads(response["body"])["error"] == "temporarily_unavailable"
    finally:
        jwks.status = 200


def test_claims_outside_a_decorated_handler_verifies_the_event(
    guard: LambdaGuard, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(scopes=["orders/read"], username="bob")
    claims = guard.claims(events.http_api_proxy_event("GET", "/x", token=token))
    assert isinstance(claims, CognitoClaims) and claims.username == "bob"
    with pytest.raises(MissingTokenError):
        guard.claims(events.rest_proxy_event("GET", "/x"))


def test_claims_are_the_ones_the_decorator_verified(
    guard: LambdaGuard, issuer: LocalIssuer
) -> None:
    seen: list[CognitoClaims] = []

    @guard.require_auth()
    def handler(event: Any, context: Any) -> dict[str, Any]:
        seen.append(guard.claims(event))
        seen.append(claims_of(event))  # the module-level shortcut reads the same claims
        return {"statusCode": 204}

    token = issuer.access_token(username="carol")
    assert handler(events.function_url_event("GET", "/", token=token), None)["statusCode"] == 204
    assert seen[0] is seen[1]
    assert seen[0].username == "carol"


# -- trusting API Gateway's own authorizer -----------------------------------------------------


def rest_cognito_claims(**extra: str) -> dict[str, str]:
    """Claims as a REST API Cognito user pool authorizer hands them over: all strings."""
    return {
        "sub": "5f1a0c8e-0000-4000-8000-000000000001",
        "token_use": "access",
        "scope": "orders/read",
        "client_id": "local0client0id0123456789a",
        "username": "dave",
        "exp": "Fri Jan 15 12:00:00 UTC 2027",
        "iat": "Fri Jan 15 11:00:00 UTC 2027",
        **extra,
    }


def test_trusted_gateway_claims_are_checked_without_verifying_again(issuer: LocalIssuer) -> None:
    # A verifier whose keys cannot be fetched: any verification would answer 503.
    unreachable = issuer.verifier(jwks_uri="http://127.0.0.1:9/jwks.json")
    guard = LambdaGuard(unreachable, trust_gateway_claims=True)
    handlers = reference_handlers(guard)
    rest = events.rest_proxy_event(
        "GET", "/admin", authorizer_claims=rest_cognito_claims(**{"cognito:groups": "staff,admins"})
    )
    response = handlers["GET", "/admin"](rest, None)
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"]) == {"user": "5f1a0c8e-0000-4000-8000-000000000001"}

    claims = guard.claims(rest)
    assert claims.expires_at == 1800014400  # "Fri Jan 15 12:00:00 UTC 2027"
    assert claims.groups == {"staff", "admins"}

    http = events.http_api_proxy_event(
        "POST",
        "/orders",
        jwt_claims={"sub": "s-2", "token_use": "access", "cognito:groups": "[admins staff]"},
        jwt_scopes=["orders/read"],
    )
    response = handlers["POST", "/orders"](http, None)
    assert response["statusCode"] == 403
    assert 'scope="orders/write"' in response["headers"]["WWW-Authenticate"]
    assert handlers["GET", "/admin"](http, None)["statusCode"] == 200
    assert guard.claims(http).scopes == {"orders/read"}


def test_gateway_claims_are_ignored_unless_trusted(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    guard = LambdaGuard(issuer.verifier(jwks_uri=jwks.jwks_uri))
    handler = reference_handlers(guard)["GET", "/orders"]
    forged = events.rest_proxy_event("GET", "/orders", authorizer_claims=rest_cognito_claims())
    assert handler(forged, None)["statusCode"] == 401


def test_trusted_mode_verifies_events_without_gateway_claims(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    guard = LambdaGuard(issuer.verifier(jwks_uri=jwks.jwks_uri), trust_gateway_claims=True)
    handler = reference_handlers(guard)["GET", "/orders"]
    assert handler(events.function_url_event("GET", "/orders"), None)["statusCode"] == 401
    token = issuer.access_token(scopes=["orders/read"])
    assert (
        handler(events.function_url_event("GET", "/orders", token=token), None)["statusCode"] == 200
    )
    # A Lambda authorizer's context (strings under requestContext.authorizer) is not claims.
    event = events.rest_proxy_event("GET", "/orders")
    event["requestContext"]["authorizer"] = {"claims": "x", "principalId": "p", "scope": "a"}
    assert handler(event, None)["statusCode"] == 401


# -- the authorizer ----------------------------------------------------------------------------


def test_rest_token_authorizer_allows_with_context(
    guard: LambdaGuard, issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    handler = guard.authorizer(protect=PROTECT)
    token = issuer.access_token(scopes=["orders/read", "openid"], groups=["admins", "staff"])
    answer = handler(events.rest_token_authorizer_event(token, path="/orders"), None)
    claims = verifier.verify(token)
    assert answer["principalId"] == claims.sub
    context = answer["context"]
    assert all(isinstance(value, (str, int, bool)) for value in context.values())
    assert context == {
        "sub": claims.sub,
        "token_use": "access",
        "client_id": issuer.client_id,
        "scope": "orders/read openid",
        "exp": claims.expires_at,
        "username": "alice",
        "groups": "admins staff",
    }
    statements = answer["policyDocument"]["Statement"]
    assert {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": [events.method_arn("GET", "/").removesuffix("GET/") + "*"],
    } in statements


def test_m2m_context_has_no_username_or_groups(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    answer = guard.authorizer()(
        events.rest_token_authorizer_event(issuer.m2m_token(scopes=["orders/read"])), None
    )
    assert "username" not in answer["context"] and "groups" not in answer["context"]
    assert answer["principalId"] == issuer.client_id


@pytest.mark.parametrize(
    "make",
    [
        lambda i, o: None,
        lambda i, o: "garbage",
        lambda i, o: i.access_token(expires_in=-60),
        lambda i, o: i.id_token(),
        lambda i, o: o.access_token(),
        lambda i, o: i.access_token().rsplit(".", 1)[0] + ".AAAA",
    ],
    ids=["missing", "malformed", "expired", "id-token", "other-pool", "bad-signature"],
)
def test_invalid_tokens_raise_unauthorized_on_every_api_gateway_kind(
    make: Callable[[LocalIssuer, LocalIssuer], str | None],
    guard: LambdaGuard,
    issuer: LocalIssuer,
    other_issuer: LocalIssuer,
) -> None:
    handler = guard.authorizer(protect=PROTECT)
    token = make(issuer, other_issuer)
    for event in (
        events.rest_token_authorizer_event(token, authorization=None if token else ""),
        events.rest_request_authorizer_event(token),
        events.websocket_connect_authorizer_event(token),
        events.http_api_authorizer_event(token),
    ):
        unauthorized(lambda event=event: handler(event, None))  # type: ignore[misc]
    refused = handler(events.appsync_authorizer_event(token or ""), None)
    assert refused == {"isAuthorized": False, "resolverContext": {}, "ttlOverride": 0}


def test_revoked_token_raises_unauthorized(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    revocations = MemoryRevocations()
    guard = LambdaGuard(issuer.verifier(jwks_uri=jwks.jwks_uri, revocations=revocations))
    handler = guard.authorizer()
    token = issuer.access_token()
    assert handler(events.rest_token_authorizer_event(token), None)["principalId"]
    revocations.revoke_token(guard.verifier.verify(token).jti or "")
    unauthorized(lambda: handler(events.rest_token_authorizer_event(token), None))


def test_keys_unavailable_raise_the_typed_error(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    jwks.status = 503
    try:
        handler = LambdaGuard(issuer.verifier(jwks_uri=jwks.jwks_uri)).authorizer()
        with pytest.raises(KeysUnavailableError):
            handler(events.rest_token_authorizer_event(issuer.access_token()), None)
        with pytest.raises(ServiceUnavailableError):
            handler(events.appsync_authorizer_event(issuer.access_token()), None)
    finally:
        jwks.status = 200


def test_valid_token_lacking_a_scope_gets_a_denying_policy(
    guard: LambdaGuard, issuer: LocalIssuer
) -> None:
    handler = guard.authorizer(protect=PROTECT)
    token = issuer.access_token(scopes=["orders/read"])
    event = events.rest_request_authorizer_event(token, method="POST", path="/orders")
    answer = handler(event, None)
    deny = [s for s in answer["policyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert events.method_arn("POST", "/orders") in deny[0]["Resource"]


def test_verifier_scopes_refuse_everything_with_a_deny(
    issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    guard = LambdaGuard(issuer.verifier(jwks_uri=jwks.jwks_uri, scopes=["admin/all"]))
    answer = guard.authorizer()(events.rest_token_authorizer_event(issuer.access_token()), None)
    assert answer["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Deny",
            "Resource": events.method_arn().removesuffix("GET/") + "*",
        }
    ]


def test_bare_tokens_are_accepted_in_authorizers(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    token = issuer.access_token()
    handler = guard.authorizer()
    answer = handler(events.rest_token_authorizer_event(authorization=token), None)
    assert answer["context"]["username"] == "alice"
    answer = handler(events.rest_request_authorizer_event(authorization=token), None)
    assert answer["context"]["username"] == "alice"
    unauthorized(
        lambda: handler(events.rest_token_authorizer_event(authorization="Basic abc"), None)
    )


def test_websocket_connect(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    handler = guard.authorizer(
        protect={"/": Requirement(), "WEBSOCKET /": Requirement.of(scopes="feed/read")}
    )
    arn = events.method_arn("$connect")
    assert arn.endswith("/prod/$connect")
    allowed = handler(
        events.websocket_connect_authorizer_event(issuer.access_token(scopes=["feed/read"])), None
    )
    assert allowed["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}
    ]
    denied = handler(events.websocket_connect_authorizer_event(issuer.access_token()), None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert denied["context"]["sub"]


def test_http_api_simple_responses(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    handler = guard.authorizer(protect=PROTECT)
    reader = issuer.access_token(scopes=["orders/read"])
    allowed = handler(events.http_api_authorizer_event(reader, path="/orders/42"), None)
    assert allowed["isAuthorized"] is True
    assert allowed["context"]["scope"] == "orders/read"
    assert set(allowed) == {"isAuthorized", "context"}
    denied = handler(events.http_api_authorizer_event(reader, method="POST", path="/orders"), None)
    assert denied["isAuthorized"] is False
    # A named stage: the route ARN's path is below the stage.
    staged = events.http_api_authorizer_event(reader, path="/orders", stage="live")
    assert staged["rawPath"] == "/live/orders"
    assert handler(staged, None)["isAuthorized"] is True
    policy = guard.authorizer(protect=PROTECT, simple_response=False)(
        events.http_api_authorizer_event(reader, path="/orders"), None
    )
    assert policy["principalId"] and "policyDocument" in policy


def test_appsync(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    clock = ManualClock()
    local = LocalIssuer(issuer.user_pool_id, keys=[issuer.access_key.private_key], clock=clock)
    guard = LambdaGuard(local.verifier(jwks=local.jwks, clock=clock), clock=clock)
    handler = guard.authorizer(scopes="orders/read", appsync_ttl=600)
    long_lived = local.access_token(scopes=["orders/read"], expires_in=3600)
    answer = handler(events.appsync_authorizer_event(long_lived), None)
    assert answer["isAuthorized"] is True
    assert answer["ttlOverride"] == 600
    assert answer["resolverContext"]["scope"] == "orders/read"
    short = local.access_token(scopes=["orders/read"], expires_in=90)
    answer = handler(events.appsync_authorizer_event(authorization="Bearer " + short), None)
    assert answer["ttlOverride"] == 90  # never beyond the token's remaining life
    clock.advance(60)
    assert handler(events.appsync_authorizer_event(short), None)["ttlOverride"] == 30
    lacking = local.access_token(scopes=["openid"])
    assert handler(events.appsync_authorizer_event(lacking), None) == {
        "isAuthorized": False,
        "resolverContext": {},
        "ttlOverride": 0,
    }


def test_protect_judges_appsync_as_post_graphql(guard: LambdaGuard, issuer: LocalIssuer) -> None:
    handler = guard.authorizer(
        protect={"/": Requirement(), "POST /graphql": Requirement.of(groups="admins")}
    )
    plain = issuer.access_token()
    admin = issuer.access_token(groups=["admins"])
    assert handler(events.appsync_authorizer_event(plain), None)["isAuthorized"] is False
    assert handler(events.appsync_authorizer_event(admin), None)["isAuthorized"] is True


def test_rejections_are_logged_without_the_token(
    guard: LambdaGuard, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cognito_guard")
    expired = issuer.access_token(expires_in=-60)
    lacking = issuer.access_token(scopes=["openid"])
    handler = guard.authorizer(protect=PROTECT)
    unauthorized(lambda: handler(events.rest_token_authorizer_event(expired), None))
    handler(events.rest_token_authorizer_event(lacking, method="POST", path="/orders"), None)
    reference_handlers(guard)["GET", "/orders"](
        events.rest_proxy_event("GET", "/orders", token=lacking), None
    )
    messages = [record.getMessage() for record in caplog.records]
    assert any("ExpiredTokenError" in m for m in messages)
    assert any("POST /orders" in m and "InsufficientScopeError" in m for m in messages)
    assert any("GET /orders" in m and "InsufficientScopeError" in m for m in messages)
    assert not any(expired in m or lacking in m or "eyJ" in m for m in messages)


# -- configuration ---------------------------------------------------------------------------


def test_authorizer_configuration_is_refused_at_once(guard: LambdaGuard) -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        guard.authorizer(protect=PROTECT, scopes="orders/read")
    with pytest.raises(ConfigurationError, match="wildcard"):
        guard.authorizer(protect={"/orders/*": Requirement()})
    with pytest.raises(ConfigurationError, match="did you mean 'GET'"):
        guard.authorizer(protect={"GETS /orders": Requirement()})
    with pytest.raises(ConfigurationError, match="appsync_ttl"):
        guard.authorizer(appsync_ttl=7200)
    with pytest.raises(ConfigurationError, match="whitespace"):
        guard.authorizer(scopes="orders/read orders/write")


def test_other_events_are_refused(guard: LambdaGuard) -> None:
    with pytest.raises(ConfigurationError, match="authorizer event"):
        guard.authorizer()({"Records": []}, None)
    with pytest.raises(ConfigurationError, match="not an execute-api ARN"):
        guard.authorizer()(
            {"type": "TOKEN", "authorizationToken": "x", "methodArn": "arn:aws:s3:::b"}, None
        )

    @guard.require_auth
    def handler(event: Any, context: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match="API Gateway, ALB or function URL"):
        handler({"Records": []}, None)


def test_decorator_misuse_is_refused(guard: LambdaGuard) -> None:
    def view(event: Any, context: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="must be called"):
        guard.require_scope(view)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="must be called"):
        require_group(view)  # type: ignore[arg-type]

    async def coroutine(event: Any, context: Any) -> None:
        return None

    with pytest.raises(ConfigurationError, match="coroutine"):
        guard.require_auth(coroutine)


# -- the module-level shortcuts on the default guard -------------------------------------------


def test_shortcuts_build_the_default_guard_from_the_environment_on_first_use(
    monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, jwks: JWKSServer
) -> None:
    # Decorating and building an authorizer need no environment yet.
    handler = authorizer(protect=PROTECT)

    @require_scope("orders/read")
    def orders(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": json.dumps({"sub": claims_of(event).sub})}

    @require_auth
    def me(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 200}

    token = issuer.access_token(scopes=["orders/read"])
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        orders(events.rest_proxy_event("GET", "/orders", token=token), None)

    monkeypatch.setenv("COGNITO_ISSUER", issuer.issuer)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", jwks.jwks_uri)
    response = orders(events.rest_proxy_event("GET", "/orders", token=token), None)
    assert response["statusCode"] == 200
    assert me(events.http_api_proxy_event("GET", "/me"), None)["statusCode"] == 401
    assert handler(events.rest_token_authorizer_event(token, path="/orders"), None)["context"]
    assert aws_lambda.default_guard() is aws_lambda.default_guard()
    assert claims_of(events.rest_proxy_event("GET", "/", token=token)).scopes == {"orders/read"}


def test_the_contract_import_paths() -> None:
    from cognito_guard import CognitoVerifier as Verifier
    from cognito_guard import Requirement as Req

    assert Verifier is CognitoVerifier and Req is Requirement
    assert set(aws_lambda.__all__) >= {
        "LambdaGuard",
        "authorizer",
        "require_auth",
        "require_scope",
        "require_group",
        "claims_of",
    }


# -- what importing the adapter costs ----------------------------------------------------------

HEAVY = ("django", "flask", "starlette", "fastapi", "werkzeug", "redis", "mangum", "uvicorn")


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": ROOT}
    result = subprocess.run(  # noqa: S603 -- this interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_importing_the_adapter_imports_no_framework_or_redis() -> None:
    loaded = _imported_after("cognito_guard.integrations.aws_lambda")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_the_adapter_imports_no_asyncio() -> None:
    assert "asyncio" not in _imported_after("cognito_guard.integrations.aws_lambda")


@pytest.mark.parametrize("module", ["cognito_guard.integrations.aws_lambda", "cognito_guard"])
def test_importing_imports_neither_asyncio_nor_opentelemetry(module: str) -> None:
    """What the sync path does not use at start-up: OpenTelemetry waits for the first use."""
    loaded = _imported_after(module)
    assert loaded.isdisjoint({"asyncio", "opentelemetry"}), sorted(loaded)


# -- start-up: the keys are fetched in the init phase ------------------------------------------


def test_a_guard_fetches_the_keys_when_it_is_built(issuer: LocalIssuer) -> None:
    with issuer.serve() as server:
        guard = LambdaGuard(issuer.verifier(jwks_uri=server.jwks_uri))
        assert server.request_count() == 1  # at construction: Lambda's init phase
        handler = guard.authorizer()
        token = issuer.access_token()
        answer = handler(events.rest_token_authorizer_event(token), None)
        assert answer["principalId"] == issuer.access_token_claims()["sub"]
        assert server.request_count() == 1  # the first request waited for no fetch
        lazy = LambdaGuard(issuer.verifier(jwks_uri=server.jwks_uri), hydrate=False)
        assert server.request_count() == 1
        assert lazy.verifier.verify(token).sub
        assert server.request_count() == 2


def test_a_guard_whose_keys_cannot_be_had_is_built_and_answers_per_request(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    with issuer.serve() as server:
        server.status = 503
        with caplog.at_level(logging.WARNING, logger="cognito_guard"):
            guard = LambdaGuard(issuer.verifier(jwks_uri=server.jwks_uri))
        (warning,) = [r.getMessage() for r in caplog.records if "start-up" in r.getMessage()]
        assert "HTTP 503" in warning and "requests try again" in warning
        assert guard.hydrate() is None
        handler = reference_handlers(guard)["GET", "/me"]
        event = events.rest_proxy_event("GET", "/me", token=issuer.access_token())
        assert handler(event, None)["statusCode"] == 503


def test_the_module_level_hydrate_reads_the_environment_and_fetches_the_keys(
    monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer
) -> None:
    with issuer.serve() as server:
        monkeypatch.setenv("COGNITO_ISSUER", issuer.issuer)
        monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
        monkeypatch.setenv("COGNITO_JWKS_URI", server.jwks_uri)
        assert aws_lambda.hydrate() == {issuer.issuer: 2}
        assert server.request_count() == 1
        token = issuer.access_token(scopes=["orders/read"])
        assert claims_of(events.rest_proxy_event("GET", "/", token=token)).sub
        assert server.request_count() == 1


# -- the example (examples/aws_lambda) -------------------------------------------------------

EXAMPLE = os.path.join(ROOT, "examples", "aws_lambda")


def _load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"aws_lambda_example_{name}", f"{EXAMPLE}/{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, jwks: JWKSServer) -> None:
    monkeypatch.setenv("COGNITO_ISSUER", issuer.issuer)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", jwks.jwks_uri)


@pytest.mark.usefixtures("example_env")
def test_the_example_authorizer(issuer: LocalIssuer) -> None:
    example = _load_example("authorizer")
    reader = issuer.access_token(scopes=["orders/read"])
    answer = example.handler(events.rest_token_authorizer_event(reader, path="/orders"), None)
    policy = answer["policyDocument"]
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    assert events.method_arn("POST", "/orders") in deny["Resource"]
    unauthorized(lambda: example.handler(events.rest_token_authorizer_event("x.y.z"), None))


@pytest.mark.usefixtures("example_env")
def test_the_example_proxy_handlers(issuer: LocalIssuer) -> None:
    example = _load_example("orders")
    writer = issuer.access_token(scopes=["orders/write"], username="erin")
    created = example.create_order(
        events.rest_proxy_event("POST", "/orders", token=writer, body={"item": "tea"}), None
    )
    assert created["statusCode"] == 201
    assert json.loads(created["body"])["order"] == {"item": "tea"}
    listed = example.list_orders(events.rest_proxy_event("GET", "/orders", token=writer), None)
    assert listed["statusCode"] == 403
    me = example.me(events.function_url_event("GET", "/", token=writer), None)
    assert json.loads(me["body"])["username"] == "erin"
    assert example.me(events.function_url_event("GET", "/"), None)["statusCode"] == 401


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !GetAtt and !Sub as plain values: enough to check the template's wiring."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def test_the_example_template_names_real_handlers() -> None:
    with open(os.path.join(EXAMPLE, "template.yaml"), encoding="utf-8") as file:
        template = yaml.load(file, Loader=_CloudFormationLoader)  # noqa: S506 -- a SafeLoader
    handlers = [
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    assert sorted(handlers) == [
        "authorizer.handler",
        "orders.create_order",
        "orders.list_orders",
        "orders.me",
    ]
    for handler in handlers:  # each names a top-level function or assignment of its module
        module, name = handler.split(".")
        with open(os.path.join(EXAMPLE, module + ".py"), encoding="utf-8") as source:
            tree = ast.parse(source.read())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
            target.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for target in n.targets
            if isinstance(target, ast.Name)
        }
        assert name in defined, handler
    authorizer_config = template["Resources"]["OrdersApi"]["Properties"]["Auth"]
    identity = authorizer_config["Authorizers"]["CognitoGuardAuthorizer"]["Identity"]
    assert 0 < identity["ReauthorizeEvery"] <= 300


# -- an ASGI application under Mangum answers as under uvicorn --------------------------------


def _mangum() -> Any:
    try:
        import mangum
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and mangum is not installed: it is a dev dependency")
        pytest.skip("mangum is not installed (pip install 'mangum>=0.17')")
    return mangum


@pytest.mark.usefixtures("example_env")
def test_a_fastapi_app_under_mangum_answers_as_under_uvicorn(
    issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    mangum = _mangum()
    from .test_fastapi import load_example

    app = load_example().app  # examples/fastapi_app.py, from the COGNITO_* environment
    context = types.SimpleNamespace(function_name="orders", aws_request_id="req-1")
    # Mangum runs every invocation on the thread's current event loop, making one at construction
    # when there is none and leaving it open, as a Lambda process would: the test owns that loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    lambda_handler = mangum.Mangum(app, lifespan="off")
    with contextlib.ExitStack() as stack:
        stack.callback(loop.close)
        stack.callback(asyncio.set_event_loop, None)
        base_url = stack.enter_context(uvicorn_thread(app))
        client = stack.enter_context(httpx.Client(base_url=base_url, timeout=10))
        for case in matrix.CASES:
            headers = matrix.headers_for(case, issuer, other_issuer)
            served = client.request(case.method, case.path, headers=headers)
            event = events.http_api_proxy_event(case.method, case.path, headers=headers)
            response = lambda_handler(event, context)
            answered = {k.lower(): v for k, v in response["headers"].items()}
            body = json.loads(response["body"])
            assert (response["statusCode"], body) == (served.status_code, served.json()), case.id
            for name in ("www-authenticate", "cache-control", "content-type"):
                assert answered.get(name) == served.headers.get(name), (case.id, name)
            matrix.check(case, response["statusCode"], answered, body)
