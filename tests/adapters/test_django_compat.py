"""Each reach of the Django adapter into Django or DRF beyond their documented API, checked.

One test per function of :mod:`cognito_guard.integrations.django._compat`: each fails if the
framework stops behaving the way that function relies on.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

import django
import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import resolve

from .django_project import setup

setup()

from django.contrib.auth.middleware import AuthenticationMiddleware  # noqa: E402
from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402
from django.middleware.csrf import CsrfViewMiddleware  # noqa: E402
from django.utils.functional import empty  # noqa: E402
from rest_framework.exceptions import APIException  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.views import exception_handler  # noqa: E402

from cognito_guard.integrations.django._compat import (  # noqa: E402
    csrf_check_passed,
    drf_django_request,
    has_user,
    migrations_module,
    set_drf_headers,
    set_user,
    view_is_csrf_exempt,
)


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def test_drf_django_request_is_the_request_drf_wraps() -> None:
    django_request = RequestFactory().get("/orders")
    assert drf_django_request(Request(django_request)) is django_request
    assert drf_django_request(django_request) is None


def test_drf_exception_handler_writes_the_challenge_and_retry_after() -> None:
    exc = APIException(detail={"error": "temporarily_unavailable"})
    exc.status_code = 503
    set_drf_headers(exc, 'Bearer error="invalid_token"', "7")
    response = exception_handler(exc, {})
    assert response.status_code == 503
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response["Retry-After"] == "7"


def _after_authentication_middleware() -> HttpRequest:
    request = RequestFactory().get("/")
    SessionMiddleware(_ok).process_request(request)
    AuthenticationMiddleware(_ok).process_request(request)
    return request


def test_has_user_sees_the_authentication_middlewares_user_without_loading_it() -> None:
    request = _after_authentication_middleware()
    assert has_user(request)
    assert request.__dict__["user"]._wrapped is empty  # still lazy: no session lookup ran
    assert not has_user(RequestFactory().get("/"))


@pytest.mark.skipif(django.VERSION < (5, 0), reason="request.auser() comes with Django 5.0")
def test_the_authentication_middleware_sets_the_pair_set_user_sets() -> None:
    middleware_sets = set(_after_authentication_middleware().__dict__)
    request = RequestFactory().get("/")
    before = set(request.__dict__)
    set_user(request, object())
    assert set(request.__dict__) - before == {"user", "auser"}
    assert {"user", "auser"} <= middleware_sets


def test_set_user_answers_user_and_auser() -> None:
    request = RequestFactory().get("/")
    user: Any = object()
    set_user(request, user)
    assert request.user is user  # type: ignore[attr-defined]
    assert asyncio.run(request.auser()) is user  # type: ignore[attr-defined]


def test_migrations_module_names_the_shipped_migrations_or_none() -> None:
    assert migrations_module("cognito_guard") == "cognito_guard.integrations.django.migrations"
    with override_settings(MIGRATION_MODULES={"cognito_guard": None}):
        assert migrations_module("cognito_guard") is None


def _form_post(token: str | None, cookie: str | None, **headers: str) -> HttpRequest:
    data = {} if token is None else {"csrfmiddlewaretoken": token}
    request = RequestFactory().post("/orders", data, headers=headers)
    if cookie is not None:
        request.COOKIES["csrftoken"] = cookie
    return request


def test_csrf_check_passed_is_djangos_verdict_without_its_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = secrets.token_hex(16)
    passed = _form_post(secret, secret)
    assert csrf_check_passed(passed)
    # marked done: Django's middleware (and csrf_protect) then take it as checked
    assert passed.csrf_processing_done  # type: ignore[attr-defined]
    assert CsrfViewMiddleware(_ok).process_view(passed, _ok, (), {}) is None
    with caplog.at_level(logging.DEBUG):
        assert not csrf_check_passed(_form_post(None, secret))  # no token
        assert not csrf_check_passed(_form_post(secret, None))  # no cookie
        assert not csrf_check_passed(_form_post("x" * 32, secret))  # another cookie's token
        assert not csrf_check_passed(_form_post(secret, secret, origin="https://evil.example"))
    # refused without Django's failure view and its warning: the session guard answers
    assert not [r for r in caplog.records if r.name.startswith("django")]
    assert "did not pass" in caplog.text
    # an XHR sends the token as Django's header instead
    assert csrf_check_passed(_form_post(None, secret, **{"X-CSRFToken": secret}))


def test_csrf_check_passed_reads_the_trusted_origins_of_the_settings_now() -> None:
    secret = secrets.token_hex(16)
    origin = "https://admin.example.com"
    assert not csrf_check_passed(_form_post(secret, secret, origin=origin))
    with override_settings(CSRF_TRUSTED_ORIGINS=[origin]):
        assert csrf_check_passed(_form_post(secret, secret, origin=origin))


def test_csrf_check_passed_follows_the_test_clients_switch() -> None:
    request = _form_post(None, None)
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
    assert csrf_check_passed(request)


@override_settings(ROOT_URLCONF="tests.adapters.django_project.admin_urls")
def test_view_is_csrf_exempt_finds_the_view_of_the_path() -> None:
    factory = RequestFactory()
    assert view_is_csrf_exempt(factory.post("/exempt-orders"))
    assert not view_is_csrf_exempt(factory.post("/orders"))
    assert not view_is_csrf_exempt(factory.post("/admin/auth/group/add/"))
    assert view_is_csrf_exempt(factory.post("/auth/logout"))  # the sign-in routes are exempt
    assert view_is_csrf_exempt(factory.post("/nowhere"))  # no view: nothing Django protects


@override_settings(ROOT_URLCONF="tests.adapters.django_project.drf_urls")
def test_view_is_csrf_exempt_sees_drf_and_the_resolved_match() -> None:
    request = RequestFactory().post("/orders")
    assert view_is_csrf_exempt(request)  # APIView.as_view() is csrf_exempt
    request.resolver_match = resolve("/orders", "tests.adapters.django_project.urls")
    assert not view_is_csrf_exempt(request)  # once Django resolved it, its match is the answer
