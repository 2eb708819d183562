"""PathRules: the one rule matcher behind the WSGI and ASGI middlewares."""

from __future__ import annotations

import pytest

from cognito_guard import ConfigurationError, InvalidPathError, InvalidRequestError
from cognito_guard.bearer import Requirement
from cognito_guard.rules import PathRules

READ = Requirement.of(scopes="orders/read")
WRITE = Requirement.of(scopes="orders/write")
HEAD_ONLY = Requirement.of(groups="monitors")
ANY = Requirement()

RULES = PathRules(
    {
        "/": ANY,
        "/health": None,
        "/orders": ANY,
        "GET /orders": READ,
        "POST /orders/": WRITE,
        "HEAD /orders/status": HEAD_ONLY,
        "GET /orders/status": READ,
    }
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/", ANY),
        ("GET", "/anything", ANY),
        ("GET", "/health", None),
        ("GET", "/health/deep", None),
        ("GET", "/healthz", ANY),  # segment boundaries: /health does not cover /healthz
        ("GET", "/orders", READ),
        ("get", "/orders/7", READ),
        ("HEAD", "/orders", READ),  # HEAD follows GET ...
        ("HEAD", "/orders/status", HEAD_ONLY),  # ... unless HEAD has a rule of its own
        ("POST", "/orders", WRITE),
        ("PUT", "/orders", ANY),
        ("GET", "/orders/", READ),  # a trailing slash is no empty segment
        ("GET", "/health/", None),
        ("GET", "/health/.well-known", None),  # a name starting with a dot is no dot segment
        ("GET", "/orders/..x", READ),
        ("GET", "/orders/50%25", READ),  # a percent sign that decodes to no dot or slash
        ("GET", "", ANY),
    ],
)
def test_most_specific_rule_wins(method: str, path: str, expected: Requirement | None) -> None:
    assert RULES.requirement_for(method, path) is expected


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        ("//orders", "empty segment"),
        ("/orders//7", "empty segment"),
        ("/orders/7//", "empty segment"),
        ("/health/../orders", "'..' segment"),
        ("/health/./../orders/7", "'.' segment"),
        ("/orders/.", "'.' segment"),
        ("/orders/..", "'..' segment"),
        ("/..", "'..' segment"),
        # Servers decode the path once; a "%" left in it is decoded once more, for a server
        # that does not and an application that decodes again.
        ("/health/%2e%2e/orders", "'..' segment"),
        ("/health/%2E./orders", "'..' segment"),
        ("/health%2f..%2forders", "'..' segment"),
        ("/orders%2F%2F7", "empty segment"),
        ("/orders/%2e", "'.' segment"),
        ("orders", "does not start with '/'"),
        ("*", "does not start with '/'"),
    ],
)
def test_paths_the_rules_cannot_judge_are_refused(path: str, fault: str) -> None:
    with pytest.raises(InvalidPathError, match=fault) as caught:
        RULES.requirement_for("GET", path)
    error = caught.value
    assert isinstance(error, InvalidRequestError)
    assert (error.status_code, error.error_code) == (400, "invalid_request")
    assert error.description == (
        "The request path must be absolute, without '.', '..' or empty segments"
    )


def test_defaults() -> None:
    assert PathRules().requirement_for("GET", "/x") == Requirement()
    assert PathRules(READ).requirement_for("POST", "/x") is READ
    assert PathRules({"/": None}).requirement_for("GET", "/x") is None


@pytest.mark.parametrize(
    "protect",
    [
        {"orders": ANY},
        {"GET POST /orders": ANY},
        {"G3T /orders": ANY},
        {"/orders": ("orders/read",)},
        {"/orders": ANY, "/orders/": None},
        {"GET /a//b": ANY},  # no request path has an empty segment: the rule would match none
        {"/health/../orders": ANY},
        {"/orders/%2e%2e": ANY},
        42,
    ],
)
def test_invalid_rules_are_refused(protect: object) -> None:
    with pytest.raises(ConfigurationError, match="protect"):
        PathRules(protect)  # type: ignore[arg-type]
