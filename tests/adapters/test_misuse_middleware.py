"""Plain WSGI and ASGI middlewares: protect= and verifier mistakes fail the start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from werkzeug.test import Client

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.bearer import Requirement
from cognito_guard.integrations.asgi import CognitoASGIMiddleware
from cognito_guard.integrations.wsgi import CognitoWSGIMiddleware
from cognito_guard.testing import LocalIssuer

from .matrix import asgi_client, bearer


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


MIDDLEWARES = (CognitoWSGIMiddleware, CognitoASGIMiddleware)
APPS: dict[type, Any] = {CognitoWSGIMiddleware: wsgi_app, CognitoASGIMiddleware: asgi_app}


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer("eu-west-1_Misuse123")


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


@pytest.mark.parametrize("middleware", MIDDLEWARES)
@pytest.mark.parametrize(
    ("protect", "message"),
    [
        ({}, "protects nothing"),
        (["/orders"], "not list"),
        ({"GETS /orders": Requirement()}, "did you mean 'GET'"),
        ({"/orders": Requirement.of}, "must be a Requirement or None"),
        ({"/orders": "orders/read"}, "must be a Requirement or None"),
    ],
)
def test_protect_mistakes_fail_the_start_up(
    verifier: CognitoVerifier, middleware: Any, protect: Any, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        middleware(APPS[middleware], verifier, protect=protect)


@pytest.mark.parametrize("middleware", MIDDLEWARES)
def test_rules_given_where_the_verifier_goes_fail_the_start_up(middleware: Any) -> None:
    with pytest.raises(ConfigurationError, match="must be a CognitoVerifier, not dict"):
        middleware(APPS[middleware], {"/": Requirement()})


def test_requirement_with_two_scopes_in_one_string_fails_where_written() -> None:
    with pytest.raises(ConfigurationError, match="whitespace"):
        Requirement.of(scopes="orders/read orders/write")


def test_wsgi_rejection_is_logged_with_method_and_full_path(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = CognitoWSGIMiddleware(wsgi_app, verifier)
    caplog.set_level(logging.INFO, "cognito_guard")
    expired = issuer.access_token(expires_in=-60)
    response = Client(app).get("/orders/7", headers=bearer(expired))
    assert response.status_code == 401
    (record,) = (r for r in caplog.records if r.name == "cognito_guard")
    assert record.getMessage().startswith("rejected GET /orders/7 with 401: ExpiredTokenError: ")
    assert expired not in caplog.text


@pytest.mark.anyio
async def test_asgi_rejection_is_logged_with_method_and_path(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = CognitoASGIMiddleware(asgi_app, verifier)
    caplog.set_level(logging.INFO, "cognito_guard")
    async with asgi_client(app) as client:
        response = await client.put("/orders/7?access_token=secret")
    assert response.status_code == 401
    (record,) = (r for r in caplog.records if r.name == "cognito_guard")
    assert record.getMessage() == (
        "rejected PUT /orders/7 with 401: MissingTokenError: the request has no bearer token"
    )
    assert "secret" not in caplog.text  # the query string is never logged
