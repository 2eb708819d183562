"""Each reach of the Django adapter into Django or DRF beyond their documented API, checked.

One test per function of :mod:`cognito_guard.integrations.django._compat`: each fails if the
framework stops behaving the way that function relies on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import django
import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from .django_project import setup

setup()

from django.contrib.auth.middleware import AuthenticationMiddleware  # noqa: E402
from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402
from django.utils.functional import empty  # noqa: E402
from rest_framework.exceptions import APIException  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.views import exception_handler  # noqa: E402

from cognito_guard.integrations.django._compat import (  # noqa: E402
    drf_django_request,
    has_user,
    migrations_module,
    set_drf_headers,
    set_user,
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
