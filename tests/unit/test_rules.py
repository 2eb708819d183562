"""PathRules: the one rule matcher behind the WSGI and ASGI middlewares."""

from __future__ import annotations

import pytest

from cognito_guard import ConfigurationError
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
        ("GET", "//orders", READ),
        ("GET", "/health/../orders", READ),  # dot segments cannot dodge a rule
        ("GET", "/health/./../orders/7", READ),
        ("GET", "", ANY),
    ],
)
def test_most_specific_rule_wins(method: str, path: str, expected: Requirement | None) -> None:
    assert RULES.requirement_for(method, path) is expected


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
        {"GET /a//b": ANY, "get /a/b": None},
        42,
    ],
)
def test_invalid_rules_are_refused(protect: object) -> None:
    with pytest.raises(ConfigurationError, match="protect"):
        PathRules(protect)  # type: ignore[arg-type]
