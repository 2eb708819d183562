"""Where the Django adapter relies on Django or Django REST framework beyond their documented API.

Each reach is one function here, and ``tests/adapters/test_django_compat.py`` holds a test per
function that fails if the framework changes under it. Nothing here imports DRF: its reaches are
attribute names only, so this module loads without it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import Resolver404, resolve

__all__ = [
    "csrf_check_passed",
    "drf_django_request",
    "has_user",
    "migrations_module",
    "set_drf_headers",
    "set_user",
    "view_is_csrf_exempt",
]

log = logging.getLogger("cognito_guard")


def drf_django_request(request: Any) -> Any:
    """The Django request a DRF ``Request`` wraps (its ``_request``); None for anything else."""
    return getattr(request, "_request", None)


def set_drf_headers(exc: Any, challenge: str | None, retry_after: str | None) -> None:
    """Give a DRF ``APIException`` the two headers DRF's own exception handler writes.

    That handler reads ``exc.auth_header`` into ``WWW-Authenticate`` and ``exc.wait`` into
    ``Retry-After``, so a project that keeps DRF's handler still gets both.
    """
    exc.auth_header = challenge
    exc.wait = int(retry_after) if retry_after else None


def has_user(request: HttpRequest) -> bool:
    """Whether an earlier middleware set ``request.user``, without evaluating it.

    Django's ``AuthenticationMiddleware`` stores a lazy object on the request itself; reading
    ``request.user`` would run its session lookup, so the request's ``__dict__`` is asked.
    """
    return "user" in request.__dict__


def set_user(request: HttpRequest, user: Any) -> None:
    """Set ``request.user`` and ``request.auser()``, the pair ``AuthenticationMiddleware`` sets
    (``auser`` since Django 5.0), so that sync and async views both find ``user``."""

    async def auser() -> Any:
        return user

    target: Any = request
    target.user, target.auser = user, auser


def migrations_module(label: str) -> str | None:
    """The module Django loads the migrations of app ``label`` from; None when
    ``MIGRATION_MODULES`` disables them (``MigrationLoader.migrations_module``)."""
    from django.db.migrations.loader import MigrationLoader

    module_name, _explicit = MigrationLoader.migrations_module(label)
    return module_name


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check as ``CsrfViewMiddleware.process_view`` runs it, answering instead of
    refusing: ``_reject`` (which renders ``CSRF_FAILURE_VIEW`` and logs a warning) is replaced,
    since the refusal, if any, is the session guard's to answer."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponseForbidden:
        log.debug("Django's CSRF check did not pass: %s", reason)
        return HttpResponseForbidden()


def _no_view(request: HttpRequest) -> HttpResponse:
    """The check's stand-in for a view that is not ``csrf_exempt`` (never called)."""
    return HttpResponseForbidden()


def csrf_check_passed(request: HttpRequest) -> bool:
    """Whether ``request`` passes Django's CSRF check (origin, referer over https, token).

    It is ``CsrfViewMiddleware.process_view`` itself, for a view that is not ``csrf_exempt``, with
    its private ``_reject`` replaced; it honours ``request.csrf_processing_done`` (set when a check
    passed) and ``request._dont_enforce_csrf_checks`` (Django's test client), and marks a passed
    request done, so that the middleware and ``csrf_protect`` do not check it twice.
    """
    # A new instance each time: the middleware caches what it reads of the settings (the trusted
    # origins) on itself, and this runs only for a cookie-authenticated form.
    return _CsrfCheck(_no_view).process_view(request, _no_view, (), {}) is None


def view_is_csrf_exempt(request: HttpRequest) -> bool:
    """Whether the view that answers ``request`` is ``csrf_exempt`` (True when none matches).

    The view is the one URL resolution finds (``request.resolver_match`` once Django resolved
    it, else a resolution with the request's own ``urlconf``); ``csrf_exempt`` marks it with the
    attribute ``CsrfViewMiddleware.process_view`` reads, which ``View.as_view()`` and DRF's
    ``APIView.as_view()`` carry over to the view function.
    """
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return True
    return bool(getattr(match.func, "csrf_exempt", False))
