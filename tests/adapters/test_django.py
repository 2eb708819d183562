"""Django adapter: the behaviour matrix on sync and async stacks, decorators, start-up, checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.integrations.django import (
    CognitoMiddleware,
    CognitoUser,
    build_verifier,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from .django_project import setup

setup()

SYNC_URLS = "tests.adapters.django_project.urls"
ASYNC_URLS = "tests.adapters.django_project.async_urls"
ENV_NAMES = ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_TOKEN_USE", "COGNITO_JWKS_URI")


def _headers(case: matrix.Case, issuer: LocalIssuer, other: LocalIssuer) -> dict[str, str]:
    authorization = case.authorization(issuer, other)
    return {} if authorization is None else {"Authorization": authorization}


def check_success_body(case: matrix.Case, body: dict[str, Any]) -> None:
    """The reference app's bodies, beyond matrix.check's "a dict" for 2xx answers."""
    if case.path == "/public":
        assert body == {"ok": True}
    elif case.path == "/me":
        assert body["username"] == "alice" and body["sub"]
        assert body["scopes"] == sorted(body["scopes"])
    elif case.method == "POST":
        assert body["created"] is True and body["user"]
    elif case.path == "/orders":
        assert body["orders"] == [] and body["user"]
    else:
        assert body["user"]


def _sync_only(_token: str) -> Any:
    raise AssertionError("the async stack called the blocking verify()")


async def _async_only(_token: str) -> Any:
    raise AssertionError("the sync stack called averify()")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def served(issuer: LocalIssuer, jwks: JWKSServer) -> Iterator[CognitoVerifier]:
    """The test project with a fresh verifier (empty key cache) of the module's JWKS server."""
    verifier = issuer.verifier(jwks_uri=jwks.jwks_uri)
    with override_settings(COGNITO_GUARD_VERIFIER=verifier):
        yield verifier


@pytest.fixture
def served_by_own_server(cognito_verifier: CognitoVerifier) -> Iterator[CognitoVerifier]:
    """Like ``served`` with the function's own JWKS server (``cognito_jwks_server``) to break."""
    with override_settings(COGNITO_GUARD_VERIFIER=cognito_verifier):
        yield cognito_verifier


# -- the behaviour matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("urlconf", [SYNC_URLS, ASYNC_URLS], ids=["sync-views", "async-views"])
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_on_sync_stack(
    case: matrix.Case,
    urlconf: str,
    served: CognitoVerifier,
    issuer: LocalIssuer,
    other_issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(served, "averify", _async_only)
    with override_settings(ROOT_URLCONF=urlconf):
        response = Client().generic(
            case.method, case.path, headers=_headers(case, issuer, other_issuer)
        )
    body = response.json()
    matrix.check(case, response.status_code, response.headers, body)
    if response.status_code < 400:
        check_success_body(case, body)


@pytest.mark.anyio
@pytest.mark.parametrize("urlconf", [ASYNC_URLS, SYNC_URLS], ids=["async-views", "sync-views"])
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
async def test_matrix_on_async_stack(
    case: matrix.Case,
    urlconf: str,
    served: CognitoVerifier,
    issuer: LocalIssuer,
    other_issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(served, "verify", _sync_only)
    with override_settings(ROOT_URLCONF=urlconf):
        response = await AsyncClient().generic(
            case.method, case.path, headers=_headers(case, issuer, other_issuer)
        )
    body = response.json()
    matrix.check(case, response.status_code, response.headers, body)
    if response.status_code < 400:
        check_success_body(case, body)


# -- keys unavailable -------------------------------------------------------------------------


def _assert_503(response: Any) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"


def test_jwks_down_answers_503_with_retry_after(
    served_by_own_server: CognitoVerifier,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    response = Client().get("/orders", headers={"Authorization": f"Bearer {token}"})
    _assert_503(response)
    assert cognito_jwks_server.request_count() >= 1


@pytest.mark.anyio
async def test_jwks_down_answers_503_on_async_stack(
    served_by_own_server: CognitoVerifier,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with override_settings(ROOT_URLCONF=ASYNC_URLS):
        response = await AsyncClient().get("/orders", headers={"Authorization": f"Bearer {token}"})
    _assert_503(response)


def test_jwks_down_does_not_break_unprotected_views(
    served_by_own_server: CognitoVerifier,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token()
    response = Client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"sub": None}


# -- request.cognito_user on unprotected views --------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt", "Bearer a b"],
    ids=["basic", "empty-bearer", "garbage", "two-tokens"],
)
def test_bad_header_is_ignored_on_unprotected_views(
    served: CognitoVerifier, authorization: str
) -> None:
    response = Client().get("/whoami", headers={"Authorization": authorization})
    assert response.status_code == 200
    assert response.json() == {"sub": None}


@pytest.mark.parametrize("urlconf", [SYNC_URLS, ASYNC_URLS], ids=["sync-views", "async-views"])
def test_valid_token_sets_cognito_user_on_unprotected_views(
    served: CognitoVerifier, issuer: LocalIssuer, urlconf: str
) -> None:
    token = issuer.access_token(username="bob", sub="sub-of-bob")
    with override_settings(ROOT_URLCONF=urlconf):
        response = Client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"sub": "sub-of-bob"}


def test_expired_token_is_ignored_on_unprotected_views(
    served: CognitoVerifier, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(expires_in=-60)
    response = Client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {"sub": None}


def test_rejections_never_log_the_token(
    served: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.access_token(scopes=["orders/read"], expires_in=-60)
    with caplog.at_level(logging.DEBUG):
        response = Client().get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert caplog.records, "the rejection should be logged"
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_realm_setting_appears_in_the_challenge(served: CognitoVerifier) -> None:
    with override_settings(COGNITO_GUARD_REALM="orders-api"):
        response = Client().get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'


# -- decorators -------------------------------------------------------------------------------


def test_decorator_without_middleware_is_a_clear_error() -> None:
    @require_auth
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("unreachable")

    with pytest.raises(ImproperlyConfigured, match="CognitoMiddleware"):
        view(RequestFactory().get("/"))


def test_decorators_keep_the_view_name_and_async_nature() -> None:
    async def orders(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def admin(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    import asyncio

    wrapped_async = require_scope("orders/read")(orders)
    wrapped_sync = require_group("admins")(admin)
    assert wrapped_async.__name__ == "orders" and asyncio.iscoroutinefunction(wrapped_async)
    assert wrapped_sync.__name__ == "admin" and not asyncio.iscoroutinefunction(wrapped_sync)


@pytest.mark.parametrize("factory", [require_scope, require_group])
def test_decorators_refuse_empty_requirements(factory: Any) -> None:
    with pytest.raises(ConfigurationError):
        factory()
    with pytest.raises(ConfigurationError):
        factory("")


def test_stacked_decorators_demand_scope_and_group(
    served: CognitoVerifier, issuer: LocalIssuer
) -> None:
    @require_group("admins")
    @require_scope("orders/read")
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    middleware = CognitoMiddleware(view)

    def call(**claims: Any) -> HttpResponse:
        token = issuer.access_token(**claims)
        request = RequestFactory().get("/", headers={"Authorization": f"Bearer {token}"})
        response = middleware(request)
        assert isinstance(response, HttpResponse)
        return response

    assert call(scopes=["orders/read"], groups=["admins"]).status_code == 200
    assert call(scopes=["orders/read"], groups=["staff"]).status_code == 403
    denied = call(scopes=["openid"], groups=["admins"])
    assert denied.status_code == 403 and 'scope="orders/read"' in denied["WWW-Authenticate"]


def test_cognito_user_wraps_claims(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier()
    user = CognitoUser(verifier.verify(issuer.access_token(username="bob", sub="s-1")))
    assert user.is_authenticated and not user.is_anonymous
    assert (user.pk, user.id, user.username, str(user)) == ("s-1", "s-1", "bob", "bob")
    machine = CognitoUser(verifier.verify(issuer.m2m_token()))
    assert machine.username == issuer.client_id  # no username: the client stands in
    assert user == CognitoUser(user.claims) and user != machine


# -- configuration at start-up ------------------------------------------------------------------


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"USER_POOL_ID": "eu-west-1_AbCdEf123"}, "CLIENT_ID"),
        ({"USER_POOL_ID": "not-a-pool", "CLIENT_ID": "abc"}, "USER_POOL_ID|pool"),
        ({"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "a", "TOKEN_USE": "x"}, "TOKEN_USE"),
        ({"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "a", "CLIENTID": "b"}, "CLIENTID"),
        ("eu-west-1_AbCdEf123", "must be a dict"),
    ],
    ids=["no-client", "bad-pool", "bad-token-use", "typo", "not-a-dict"],
)
def test_invalid_settings_fail_at_startup(config: Any, message: str) -> None:
    with override_settings(COGNITO_GUARD=config):
        with pytest.raises(ConfigurationError, match=message):
            CognitoMiddleware(_ok)
        # Django builds its middleware chain when the WSGI application is created.
        with pytest.raises(ConfigurationError, match=message):
            WSGIHandler()


def test_environment_is_read_without_cognito_guard(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_AbCdEf123")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "client-from-env")
    monkeypatch.setenv("COGNITO_TOKEN_USE", "id")
    with override_settings():
        del settings.COGNITO_GUARD
        verifier = CognitoMiddleware(_ok).guard.verifier
    assert verifier.client_ids == {"client-from-env"}
    assert verifier.token_use == "id"
    assert any(iss.endswith("/eu-west-1_AbCdEf123") for iss in verifier.issuers)


def test_missing_environment_fails_at_startup(clean_env: None) -> None:
    with override_settings():
        del settings.COGNITO_GUARD
        with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
            CognitoMiddleware(_ok)


def test_verifier_can_be_injected_by_dotted_path() -> None:
    path = "tests.adapters.django_project.verifiers.local_verifier"
    with override_settings(COGNITO_GUARD_VERIFIER=path):
        verifier = build_verifier()
    assert verifier.client_ids == {"dotted0path0client"}


@pytest.mark.parametrize("value", [42, "tests.adapters.django_project.verifiers.missing"])
def test_bad_injected_verifier_fails_at_startup(value: object) -> None:
    with (
        override_settings(COGNITO_GUARD_VERIFIER=value),
        pytest.raises(ConfigurationError, match="COGNITO_GUARD_VERIFIER"),
    ):
        CognitoMiddleware(_ok)


# -- system checks ----------------------------------------------------------------------------


def _cognito_messages() -> list[Any]:
    return [m for m in run_checks() if str(m.id).startswith("cognito_guard.")]


def test_check_passes_with_valid_settings() -> None:
    assert _cognito_messages() == []


def test_check_reports_invalid_settings() -> None:
    config = {"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "a", "TOKEN_USE": "refresh"}
    with override_settings(COGNITO_GUARD=config):
        messages = _cognito_messages()
    assert [m.id for m in messages] == ["cognito_guard.E001"]
    assert "TOKEN_USE" in messages[0].msg and messages[0].is_serious()


def test_check_reports_missing_settings(clean_env: None) -> None:
    with override_settings():
        del settings.COGNITO_GUARD
        messages = _cognito_messages()
        with pytest.raises(SystemCheckError, match="COGNITO_USER_POOL_ID"):
            call_command("check", stdout=StringIO(), stderr=StringIO())
    assert [m.id for m in messages] == ["cognito_guard.E001"]


def test_check_warns_when_the_middleware_is_missing() -> None:
    with override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"]):
        messages = _cognito_messages()
    assert [m.id for m in messages] == ["cognito_guard.W001"]
    assert not messages[0].is_serious()


def test_request_state_is_what_the_middleware_found(
    served: CognitoVerifier, issuer: LocalIssuer
) -> None:
    import dataclasses

    from cognito_guard.errors import ExpiredTokenError
    from cognito_guard.integrations.django import RequestState, request_state

    request = RequestFactory().get(
        "/", headers={"Authorization": f"Bearer {issuer.access_token(expires_in=-60)}"}
    )
    middleware = CognitoMiddleware(lambda request: HttpResponse())
    middleware(request)
    state = request_state(request)
    assert state == RequestState(middleware.guard, None, state.error, None)
    assert isinstance(state.error, ExpiredTokenError)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.error = None  # type: ignore[misc]
