"""Pure pieces: issuers, errors and their challenges, claims, the bearer request path, settings."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_guard import (
    CognitoClaims,
    ConfigurationError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidRequestError,
    KeysUnavailableError,
    MissingGroupError,
    MissingTokenError,
)
from cognito_guard.bearer import BearerGuard, Requirement, parse_authorization
from cognito_guard.config import verifier_from_env, verifier_from_settings
from cognito_guard.issuers import (
    canonical_issuer,
    check_jwks_uri,
    issuer_forms,
    issuers_for,
    jwks_uri_for,
    pool_of_issuer,
    region_of,
)
from cognito_guard.testing import LocalIssuer


@pytest.mark.parametrize(
    ("pool", "region"),
    [
        ("eu-west-1_AbCdEf123", "eu-west-1"),
        ("us-gov-west-1_x", "us-gov-west-1"),
        ("local_1234567890abcdefghijklmnopqrstuvwxyz", "local"),
    ],
)
def test_region_of(pool: str, region: str) -> None:
    assert region_of(pool) == region


@pytest.mark.parametrize("pool", ["", "nounderscore", "eu-west-1_", "_abc", "eu west_1", "a_b-c"])
def test_invalid_pool_ids(pool: str) -> None:
    with pytest.raises(ConfigurationError):
        region_of(pool)


def test_issuer_forms_and_jwks_uri() -> None:
    original, updated = issuers_for("ap-south-1_Q1")
    assert original == "https://cognito-idp.ap-south-1.amazonaws.com/ap-south-1_Q1"
    assert updated == "https://issuer-cognito-idp.ap-south-1.amazonaws.com/ap-south-1_Q1"
    assert issuers_for("ap-south-1_Q1", "original") == (original,)
    assert jwks_uri_for(original) == original + "/.well-known/jwks.json"


def test_both_issuer_forms_are_one_pool() -> None:
    original, updated = issuers_for("ap-south-1_Q1")
    assert canonical_issuer(original) == canonical_issuer(updated) == original
    assert issuer_forms(updated) == issuer_forms(original) == (original, updated)
    assert pool_of_issuer(updated) == pool_of_issuer(original) == "ap-south-1_Q1"
    # Not a Cognito issuer, or a pool named in another region's host: only itself.
    for other in (
        "http://localhost:9229/us-east-1_Local1",
        "https://cognito-idp.eu-west-1.amazonaws.com/ap-south-1_Q1",
        original + "/",
        "https://example.com/issuer",
    ):
        assert canonical_issuer(other) == other and issuer_forms(other) == (other,)
    assert pool_of_issuer("http://localhost:9229/us-east-1_Local1") == "us-east-1_Local1"
    assert pool_of_issuer("https://example.com/issuer") is None


@pytest.mark.parametrize(
    ("value", "verified"),
    [(True, True), ("true", True), (False, False), ("false", False), ("True", False), (1, False)],
)
def test_email_verified(value: object, verified: bool) -> None:
    assert CognitoClaims({"email": "a@example.com", "email_verified": value}).email_verified is (
        verified
    )
    assert CognitoClaims({"email": "a@example.com"}).email_verified is False


@pytest.mark.parametrize(
    "url",
    ["http://example.com/j", "http://10.0.0.1/j", "http://127.0.0.1.evil.io/j", "file:///etc/x"],
)
def test_plain_http_refused_off_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_jwks_uri(url)


def test_challenges() -> None:
    assert MissingTokenError("x").www_authenticate() == "Bearer"
    assert MissingTokenError("x").www_authenticate(realm="api") == 'Bearer realm="api"'
    expired = ExpiredTokenError("expired 3s ago").www_authenticate(realm='a"b\\c\n')
    assert expired == (
        'Bearer realm="abc", error="invalid_token", error_description="The token has expired"'
    )
    scope = InsufficientScopeError("m", ["orders/read", "orders/write"]).www_authenticate()
    assert scope.endswith('scope="orders/read orders/write"')
    assert MissingGroupError("m").status_code == 403
    assert KeysUnavailableError("down", retry_after=0).retry_after == 1


def test_claims_accessors_tolerate_odd_shapes() -> None:
    claims = CognitoClaims({"sub": "s", "aud": ["c1"], "token_use": "id", "exp": 5, "iat": True})
    assert claims.client_id == "c1"
    assert claims.issued_at is None  # a bool is not a time
    assert claims.expires_at == 5
    assert dict(claims)["sub"] == "s"
    assert "s" in repr(claims)


@pytest.mark.parametrize(
    ("values", "token"),
    [
        ([], None),
        (["Bearer abc.def-_~+/="], "abc.def-_~+/="),
        (["bearer abc"], "abc"),
        (["BEARER   abc  "], "abc"),
    ],
)
def test_parse_authorization(values: list[str], token: str | None) -> None:
    assert parse_authorization(values) == token


@pytest.mark.parametrize(
    "values",
    [
        ["Bearer"],
        ["Bearer "],
        ["Basic dXNlcjpwYXNz"],
        ["Bearer a b"],
        ["Bearer a,b"],
        ["Bearer a", "Bearer b"],
        ["Bearer \u00e9t\u00e9"],
        ["Bearer ==abc"],
        [""],
        ["Token abc"],
    ],
)
def test_parse_authorization_rejects(values: list[str]) -> None:
    with pytest.raises(InvalidRequestError):
        parse_authorization(values)


def test_guard_answers(cognito_issuer: LocalIssuer) -> None:
    guard = BearerGuard(cognito_issuer.verifier(), realm="orders")
    claims = guard.authenticate(["Bearer " + cognito_issuer.access_token(scopes=["a"])])
    assert guard.authorize(claims, Requirement.of("a")) is claims
    with pytest.raises(InsufficientScopeError):
        guard.authorize(claims, Requirement.of(["a", "b"]))
    with pytest.raises(MissingTokenError):
        guard.authorize(None, Requirement())
    answer = guard.answer(KeysUnavailableError("down", retry_after=7))
    assert (answer.status, dict(answer.headers)["Retry-After"]) == (503, "7")
    answer = guard.answer(InsufficientScopeError("m", ["a"]))
    assert answer.status == 403
    assert answer.body == {
        "error": "insufficient_scope",
        "error_description": "The token lacks a required scope",
    }


def test_settings_loader() -> None:
    verifier = verifier_from_settings(
        {"USER_POOL_ID": "eu-west-1_abc", "CLIENT_ID": "a, b", "TOKEN_USE": "any", "LEEWAY": "5"}
    )
    assert verifier.client_ids == {"a", "b"}
    assert verifier.token_use is None
    assert verifier.leeway == 5
    env = verifier_from_env({"COGNITO_USER_POOL_ID": "eu-west-1_abc", "COGNITO_CLIENT_ID": "a"})
    assert env.issuers[0].endswith("/eu-west-1_abc")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"CLIENT_ID": "a"}, "USER_POOL_ID"),
        ({"USER_POOL_ID": "eu-west-1_abc"}, "CLIENT_ID"),
        ({"USER_POOL_ID": "eu-west-1_abc", "CLIENT_ID": "a", "TOKEN_USE": "both"}, "TOKEN_USE"),
        ({"USER_POOL_ID": "eu-west-1_abc", "CLIENT_ID": "a", "LEEWAY": "soon"}, "LEEWAY"),
        ({"USER_POOL_ID": "eu-west-1_abc", "CLIENT_ID": "a", "CLIENTID": "typo"}, "unknown"),
        ({"USER_POOL_ID": "bad", "CLIENT_ID": "a"}, "user pool id"),
    ],
)
def test_settings_loader_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        verifier_from_settings(settings)
