"""The behaviour matrix every adapter must satisfy, written once.

Each adapter's test module builds the reference app (see ``ROUTES``) and runs every :data:`CASES`
entry through its framework's test client with :func:`check`.

The reference app, identical in every framework:

- ``GET /public``  unprotected, ``{"ok": true}``
- ``GET /me``      any valid token, ``{"sub": ..., "username": ..., "scopes": [sorted]}``
- ``GET /orders``  needs scope ``orders/read``, ``{"user": sub, "orders": []}``
- ``POST /orders`` needs scope ``orders/write``, 201 ``{"user": sub, "created": true}``
- ``GET /admin``   needs group ``admins``, ``{"user": sub}``
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cognito_guard.testing import LocalIssuer

Headers = dict[str, str]


@dataclass(frozen=True)
class Case:
    """One request and the answer every adapter must give."""

    id: str
    method: str
    path: str
    authorization: Callable[[LocalIssuer, LocalIssuer], str | None]
    status: int
    error: str | None = None  # the RFC 6750 error code in WWW-Authenticate and the JSON body
    scope: str | None = None  # the scope="..." parameter of an insufficient_scope challenge


def _bearer(make: Callable[[LocalIssuer], str]) -> Callable[[LocalIssuer, LocalIssuer], str]:
    return lambda issuer, _other: "Bearer " + make(issuer)


def _tampered(issuer: LocalIssuer) -> str:
    header, _payload, signature = issuer.access_token(scopes=["orders/read"]).split(".")
    other = issuer.access_token(scopes=["orders/read", "orders/write"]).split(".")[1]
    return ".".join([header, other, signature])


CASES: tuple[Case, ...] = (
    Case("no-token", "GET", "/me", lambda i, o: None, 401),
    Case("public-no-token", "GET", "/public", lambda i, o: None, 200),
    Case("me-valid", "GET", "/me", _bearer(lambda i: i.access_token(scopes=["openid"])), 200),
    Case(
        "orders-read",
        "GET",
        "/orders",
        _bearer(lambda i: i.access_token(scopes=["orders/read"])),
        200,
    ),
    Case(
        "orders-without-scope",
        "GET",
        "/orders",
        _bearer(lambda i: i.access_token(scopes=["openid", "email"])),
        403,
        "insufficient_scope",
        "orders/read",
    ),
    Case(
        "orders-write",
        "POST",
        "/orders",
        _bearer(lambda i: i.access_token(scopes=["orders/write"])),
        201,
    ),
    Case(
        "orders-write-with-read-only",
        "POST",
        "/orders",
        _bearer(lambda i: i.access_token(scopes=["orders/read"])),
        403,
        "insufficient_scope",
        "orders/write",
    ),
    Case(
        "m2m-orders-read",
        "GET",
        "/orders",
        _bearer(lambda i: i.m2m_token(scopes=["orders/read"])),
        200,
    ),
    Case(
        "expired",
        "GET",
        "/orders",
        _bearer(lambda i: i.access_token(scopes=["orders/read"], expires_in=-60)),
        401,
        "invalid_token",
    ),
    Case("tampered", "GET", "/orders", _bearer(_tampered), 401, "invalid_token"),
    Case(
        "id-token-for-access",
        "GET",
        "/me",
        _bearer(lambda i: i.id_token()),
        401,
        "invalid_token",
    ),
    Case(
        "other-pool",
        "GET",
        "/me",
        lambda i, other: "Bearer " + other.access_token(scopes=["orders/read"]),
        401,
        "invalid_token",
    ),
    Case("garbage-token", "GET", "/me", lambda i, o: "Bearer not.a.jwt", 401, "invalid_token"),
    Case("basic-scheme", "GET", "/me", lambda i, o: "Basic dXNlcjpwYXNz", 400, "invalid_request"),
    Case("bearer-no-token", "GET", "/me", lambda i, o: "Bearer", 400, "invalid_request"),
    Case("bearer-two-tokens", "GET", "/me", lambda i, o: "Bearer abc def", 400, "invalid_request"),
    Case(
        "lowercase-scheme",
        "GET",
        "/me",
        lambda i, o: "bearer " + i.access_token(scopes=["openid"]),
        200,
    ),
    Case(
        "admin-in-group",
        "GET",
        "/admin",
        _bearer(lambda i: i.access_token(groups=["admins"])),
        200,
    ),
    Case(
        "admin-not-in-group",
        "GET",
        "/admin",
        _bearer(lambda i: i.access_token(groups=["staff"])),
        403,
        "insufficient_scope",
    ),
)


def headers_for(case: Case, issuer: LocalIssuer, other: LocalIssuer) -> Headers:
    """The request headers of ``case``: its Authorization header, if it has one."""
    authorization = case.authorization(issuer, other)
    return {} if authorization is None else {"Authorization": authorization}


def bearer(token: str) -> Headers:
    """An ``Authorization: Bearer`` header."""
    return {"Authorization": "Bearer " + token}


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client calling an ASGI application in-process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def check(case: Case, status: int, headers: Mapping[str, str], body: Any) -> None:
    """Assert that one adapter's answer to ``case`` is the expected one.

    ``headers`` must be case-insensitive (every framework's test client gives such a mapping).
    """
    assert status == case.status, (case.id, status, body)
    if status < 400:
        assert isinstance(body, dict)
        return
    assert headers.get("cache-control") == "no-store", case.id
    assert isinstance(body, dict) and set(body) == {"error", "error_description"}, (case.id, body)
    challenge = headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer"), (case.id, challenge)
    if case.error is None:
        assert "error=" not in challenge, (case.id, challenge)
        assert body["error"] == "unauthorized"
    else:
        assert f'error="{case.error}"' in challenge, (case.id, challenge)
        assert body["error"] == case.error
    if case.scope is not None:
        assert f'scope="{case.scope}"' in challenge, (case.id, challenge)
    assert "eyJ" not in challenge and "eyJ" not in str(body), "a token leaked into the answer"
