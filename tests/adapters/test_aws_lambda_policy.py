"""The Lambda authorizer's policy under API Gateway's cache: never wider than the rules.

API Gateway caches an authorizer's policy per token and applies it to every route that token
calls until the TTL ends. These tests evaluate each returned policy, with IAM's semantics (an
explicit Deny wins over any Allow; no matching Allow is a Deny; ``*`` matches any run of
characters, ``/`` included; ``?`` one character), against the method ARNs of many routes, and
compare with what the rules (``PathRules``) decide for that token on each route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cognito_guard import CognitoVerifier, InvalidPathError, Requirement, TokenError
from cognito_guard.integrations.aws_lambda import LambdaGuard
from cognito_guard.rules import PathRules
from cognito_guard.testing import JWKSServer, LocalIssuer
from cognito_guard.testing.lambda_events import (
    http_api_authorizer_event,
    method_arn,
    rest_request_authorizer_event,
    rest_token_authorizer_event,
)

# -- a small IAM policy evaluator (the semantics API Gateway applies to authorizer policies) --


@cache
def _pattern(resource: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in resource)
    return re.compile("".join(parts), re.DOTALL)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def iam_allows(document: Mapping[str, Any], arn: str, action: str = "execute-api:Invoke") -> bool:
    """IAM's verdict for ``action`` on ``arn``: explicit Deny > Allow > implicit Deny."""
    assert document["Version"] == "2012-10-17"
    allowed = False
    for statement in document["Statement"]:
        assert statement["Effect"] in ("Allow", "Deny")
        actions = _listed(statement["Action"])
        if not any(_pattern(pattern).fullmatch(action) for pattern in actions):
            continue
        if not any(_pattern(pattern).fullmatch(arn) for pattern in _listed(statement["Resource"])):
            continue
        if statement["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def test_the_evaluator_follows_iam() -> None:
    base = "arn:aws:execute-api:us-east-1:1:api/prod/"
    allow_all = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": base + "*"}
    deny_post = {"Effect": "Deny", "Action": "execute-api:*", "Resource": [base + "POST/orders*"]}
    document = {"Version": "2012-10-17", "Statement": [allow_all, deny_post]}
    assert iam_allows(document, base + "GET/orders/42")
    assert not iam_allows(document, base + "POST/orders/42")  # Deny wins, * crosses "/"
    assert not iam_allows({"Version": "2012-10-17", "Statement": []}, base + "GET/")
    one = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": base + "GET/a?c"}
    single = {"Version": "2012-10-17", "Statement": [one]}
    assert iam_allows(single, base + "GET/abc") and not iam_allows(single, base + "GET/abbc")


# -- the routes a cached policy is applied to -------------------------------------------------

VERBS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PATHS = (
    "/",
    "/orders",
    "/orders/",
    "/orders/42",
    "/orders/42/items",
    "/orders-archive",
    "/me",
    "/admin",
    "/admin/users",
    "/admin/help",
    "/admin/help/faq",
    "/public",
    "/public/docs",
    "/health",
    "/GET/orders",
    "/x/orders",
    "/public/../admin",
    "/orders//42",
    "/orders/%2e%2e/admin",
    "/files/report%2ejson",
)
ROUTES = tuple((verb, path) for verb in VERBS for path in PATHS)


def exact(
    rules: PathRules, scopes: frozenset[str], groups: frozenset[str], verb: str, path: str
) -> bool:
    """What the rules decide for a token with ``scopes`` and ``groups`` on one request."""
    try:
        requirement = rules.requirement_for(verb, path)
    except InvalidPathError:
        return False
    if requirement is None:
        return True
    return set(requirement.scopes) <= scopes and (
        not requirement.groups or bool(groups & set(requirement.groups))
    )


@pytest.fixture(scope="module")
def verifier(issuer: LocalIssuer, jwks: JWKSServer) -> CognitoVerifier:
    return issuer.verifier(jwks_uri=jwks.jwks_uri)


REFERENCE: dict[str, Requirement | None] = {
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "/": Requirement(),
}


def _policy(answer: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = answer["policyDocument"]
    return document


def test_a_policy_cached_on_get_orders_never_opens_post_orders(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    handler = LambdaGuard(verifier).authorizer(protect=REFERENCE)
    reader = issuer.access_token(scopes=["orders/read"])
    policy = _policy(handler(rest_token_authorizer_event(reader, path="/orders"), None))
    assert iam_allows(policy, method_arn("GET", "/orders"))
    assert iam_allows(policy, method_arn("GET", "/orders/42"))
    assert iam_allows(policy, method_arn("HEAD", "/orders/42"))  # HEAD follows GET
    assert iam_allows(policy, method_arn("DELETE", "/me"))  # "/" needs any valid token
    assert not iam_allows(policy, method_arn("POST", "/orders"))
    assert not iam_allows(policy, method_arn("POST", "/orders/42"))
    # The policy names this API and stage only.
    assert not iam_allows(policy, method_arn("GET", "/orders", stage="test"))
    assert not iam_allows(policy, method_arn("GET", "/orders", api_id="otherapi01"))

    writer = issuer.access_token(scopes=["orders/write"])
    policy = _policy(
        handler(rest_token_authorizer_event(writer, method="POST", path="/orders"), None)
    )
    assert iam_allows(policy, method_arn("POST", "/orders"))
    assert not iam_allows(policy, method_arn("GET", "/orders"))
    assert not iam_allows(policy, method_arn("GET", "/orders/42"))
    assert iam_allows(policy, method_arn("GET", "/orders-archive"))  # not below /orders


def test_a_denied_request_gets_a_policy_that_denies_it(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    handler = LambdaGuard(verifier).authorizer(protect=REFERENCE)
    reader = issuer.access_token(scopes=["orders/read"])
    answer = handler(rest_token_authorizer_event(reader, method="POST", path="/orders/7"), None)
    assert answer["principalId"] == verifier.verify(reader).sub
    policy = _policy(answer)
    assert not iam_allows(policy, method_arn("POST", "/orders/7"))  # 403 for this request
    assert iam_allows(policy, method_arn("GET", "/orders/7"))  # and the cache stays useful


def _check_policy_for_every_route(
    handler: Any,
    rules: PathRules,
    token: str,
    scopes: frozenset[str],
    groups: frozenset[str],
    origin: tuple[str, str],
    build: Any = rest_token_authorizer_event,
    stage: str = "prod",
) -> None:
    answer = handler(build(token, method=origin[0], path=origin[1]), None)
    policy = _policy(answer)
    verdict = iam_allows(policy, method_arn(*origin, stage=stage))
    assert verdict == exact(rules, scopes, groups, *origin), ("origin", origin, policy)
    for verb, path in ROUTES:
        if iam_allows(policy, method_arn(verb, path, stage=stage)):
            assert exact(rules, scopes, groups, verb, path), ("widened", origin, (verb, path))


TOKENS = {
    "none": ((), ()),
    "read": (("orders/read",), ()),
    "write": (("orders/write",), ()),
    "both": (("orders/read", "orders/write"), ()),
    "admin": (("orders/read",), ("admins",)),
    "staff": ((), ("staff",)),
}

NESTED: dict[str, Requirement | None] = {
    "/": Requirement(),
    "/public": None,
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "HEAD /orders": Requirement.of(scopes="orders/write"),
    "/admin": Requirement.of(groups=["admins", "staff"]),
    "/admin/help": Requirement(),
    "DELETE /admin/users": Requirement.of(scopes="orders/write", groups="admins"),
}


@pytest.mark.parametrize("protect", [REFERENCE, NESTED], ids=["reference", "nested"])
@pytest.mark.parametrize("who", sorted(TOKENS))
def test_no_policy_allows_a_route_the_rules_refuse(
    protect: dict[str, Requirement | None],
    who: str,
    issuer: LocalIssuer,
    verifier: CognitoVerifier,
) -> None:
    scopes, groups = TOKENS[who]
    token = issuer.access_token(scopes=scopes, groups=groups)
    handler = LambdaGuard(verifier).authorizer(protect=protect)
    rules = PathRules(protect)
    for origin in ROUTES:
        _check_policy_for_every_route(
            handler, rules, token, frozenset(scopes), frozenset(groups), origin
        )


def test_a_met_rule_inside_a_failed_one_is_answered_exactly(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    # /admin/help needs any valid token, inside /admin (admins or staff): a token outside both
    # groups must get through on /admin/help; a policy for the whole API cannot say so without
    # also opening /admin, so it allows exactly that request.
    handler = LambdaGuard(verifier).authorizer(protect=NESTED)
    token = issuer.access_token(scopes=["orders/read"])
    policy = _policy(handler(rest_token_authorizer_event(token, path="/admin/help"), None))
    assert iam_allows(policy, method_arn("GET", "/admin/help"))
    assert not iam_allows(policy, method_arn("GET", "/admin"))
    assert not iam_allows(policy, method_arn("GET", "/admin/users"))


def test_http_api_policy_responses_follow_the_same_rule(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    handler = LambdaGuard(verifier).authorizer(protect=REFERENCE, simple_response=False)
    reader = issuer.access_token(scopes=["orders/read"])
    rules = PathRules(REFERENCE)
    for origin in (("GET", "/orders"), ("POST", "/orders"), ("GET", "/me")):
        _check_policy_for_every_route(
            handler,
            rules,
            reader,
            frozenset({"orders/read"}),
            frozenset(),
            origin,
            build=lambda token, method, path: http_api_authorizer_event(
                token, method=method, path=path
            ),
            stage="$default",
        )


def test_request_authorizers_follow_the_same_rule(
    issuer: LocalIssuer, verifier: CognitoVerifier
) -> None:
    handler = LambdaGuard(verifier).authorizer(protect=NESTED)
    token = issuer.access_token(scopes=["orders/write"], groups=["staff"])
    rules = PathRules(NESTED)
    for origin in (("HEAD", "/orders"), ("DELETE", "/admin/users/3"), ("GET", "/admin")):
        _check_policy_for_every_route(
            handler,
            rules,
            token,
            frozenset({"orders/write"}),
            frozenset({"staff"}),
            origin,
            build=lambda token, method, path: rest_request_authorizer_event(
                token, method=method, path=path
            ),
        )


# -- any rules at all ------------------------------------------------------------------------

_SEGMENTS = st.sampled_from(["orders", "admin", "help", "42"])
_PREFIXES = st.lists(_SEGMENTS, max_size=3).map(lambda parts: "/" + "/".join(parts))
_METHODS = st.sampled_from([None, "GET", "HEAD", "POST", "DELETE"])
_REQUIREMENTS = st.sampled_from(
    [
        None,
        Requirement(),
        Requirement.of(scopes="orders/read"),
        Requirement.of(scopes=["orders/read", "orders/write"]),
        Requirement.of(groups=["admins", "staff"]),
        Requirement.of(scopes="orders/write", groups="admins"),
    ]
)
_PROTECT = st.dictionaries(
    st.tuples(_METHODS, _PREFIXES).map(lambda key: f"{key[0]} {key[1]}" if key[0] else key[1]),
    _REQUIREMENTS,
    min_size=1,
    max_size=6,
)
_PROPERTY_PATHS = (
    "/",
    "/orders",
    "/orders/42",
    "/orders/42/help",
    "/admin",
    "/admin/help",
    "/admin/help/42",
    "/help",
    "/42/orders",
    "/ordersx",
)
_PROPERTY_ROUTES = tuple((verb, path) for verb in VERBS for path in _PROPERTY_PATHS)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    protect=_PROTECT,
    who=st.sampled_from(sorted(TOKENS)),
    origin=st.sampled_from(_PROPERTY_ROUTES),
)
def test_any_rules_any_token_any_origin(
    protect: dict[str, Requirement | None],
    who: str,
    origin: tuple[str, str],
    issuer: LocalIssuer,
    verifier: CognitoVerifier,
) -> None:
    scopes, groups = TOKENS[who]
    token = _token(issuer, who)
    handler = LambdaGuard(verifier).authorizer(protect=protect)
    rules = PathRules(protect)
    answer = handler(rest_token_authorizer_event(token, method=origin[0], path=origin[1]), None)
    policy = _policy(answer)
    assert iam_allows(policy, method_arn(*origin)) == exact(
        rules, frozenset(scopes), frozenset(groups), *origin
    )
    for verb, path in _PROPERTY_ROUTES:
        if iam_allows(policy, method_arn(verb, path)):
            assert exact(rules, frozenset(scopes), frozenset(groups), verb, path), (verb, path)


_TOKENS: dict[tuple[int, str], str] = {}


def _token(issuer: LocalIssuer, who: str) -> str:
    # One token per kind of holder, reused across examples: the verifier's cache keeps the
    # property test about policies rather than RSA.
    key = (id(issuer), who)
    if key not in _TOKENS:
        scopes, groups = TOKENS[who]
        _TOKENS[key] = issuer.access_token(scopes=scopes, groups=groups)
    return _TOKENS[key]


def test_exact_helper_agrees_with_requirement_check(issuer: LocalIssuer) -> None:
    # The reference decision used above is Requirement.check's, restated.
    claims = LambdaGuard(issuer.verifier()).verifier.verify(
        issuer.access_token(scopes=["orders/read"], groups=["staff"])
    )
    rules = PathRules(NESTED)
    for verb, path in ROUTES:
        try:
            requirement = rules.requirement_for(verb, path)
        except InvalidPathError:
            continue
        try:
            if requirement is not None:
                requirement.check(claims)
            expected = True
        except TokenError:
            expected = False
        got = exact(rules, frozenset({"orders/read"}), frozenset({"staff"}), verb, path)
        assert got == expected, (verb, path)
