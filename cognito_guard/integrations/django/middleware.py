"""The middleware: each request's credentials verified once, the outcome kept on the request.

The middleware sets ``request.cognito_user`` to the request's
:class:`~cognito_guard.CognitoClaims`, or to None when the request has no credentials or
credentials that were rejected. A rejection is kept on the request (:func:`request_state`), not
answered: only a protected view (the decorators, the DRF classes) turns it into its RFC 6750
answer, so an unprotected view works the same with a stale or broken header as without one.
Sync stacks verify with ``verify``; async stacks with ``averify``, so the event loop never blocks
on a key fetch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.module_loading import import_string

from ...bearer import BearerGuard, Credentials
from ...claims import CognitoClaims
from ...errors import CognitoGuardError
from ._compat import drf_django_request
from .metadata import metadata_response, served_metadata
from .sessions import connect_sign_out
from .settings import MIDDLEWARE_PATH, build_guard, sign_in_from_settings
from .users import user_linker
from .web import web_request

__all__ = [
    "CognitoMiddleware",
    "CognitoRequest",
    "Found",
    "RequestState",
    "cognito_backend",
    "found",
    "request_state",
    "web_request",
]

STATE = "_cognito_guard_state"
"""The attribute of the Django request holding its :class:`RequestState`."""

GetResponse = Callable[[HttpRequest], "HttpResponseBase | Awaitable[HttpResponseBase]"]


class CognitoRequest(HttpRequest):
    """An :class:`~django.http.HttpRequest` as the middleware leaves it (for type hints only).

    Example::

        def me(request: CognitoRequest) -> JsonResponse:
            return JsonResponse({"sub": request.cognito_user.sub if request.cognito_user else None})
    """

    cognito_user: CognitoClaims | None


@dataclass(frozen=True)
class RequestState:
    """What :class:`CognitoMiddleware` found on a request: the claims, or the rejection to answer.

    Example: ``request_state(request).error``  (None, or e.g. an ExpiredTokenError)
    """

    guard: BearerGuard
    claims: CognitoClaims | None
    error: CognitoGuardError | None
    user: Any = None  # the AUTH_USER_MODEL row (or CognitoService) when CognitoBackend is on


Found = tuple[BearerGuard, CognitoClaims | None, CognitoGuardError | None, Any]
"""What the middleware stores on the request: :class:`RequestState`'s fields, as a tuple."""


def cognito_backend() -> Any:
    """An instance of the first ``CognitoBackend`` of ``AUTHENTICATION_BACKENDS``, or None.

    Its presence is what turns on the link of tokens to user rows.

    Example: ``cognito_backend()``  (None unless the settings name the backend)
    """
    if not apps.is_installed("django.contrib.auth"):
        return None  # no user model to map to: the mapping cannot be on
    # Imported here: the backend's module (ModelBackend's) needs django.contrib.auth installed and
    # the app registry ready, which the middleware and the checks have and this package's import
    # does not.
    from .backends import CognitoBackend

    for path in getattr(settings, "AUTHENTICATION_BACKENDS", ()):
        try:
            backend = import_string(path)
        except Exception:  # noqa: S112 - Django reports a bad backend path itself, on first use
            continue
        if isinstance(backend, type) and issubclass(backend, CognitoBackend):
            return backend()
    return None


class CognitoMiddleware:
    """Verifies each request's credentials once and sets ``request.cognito_user``.

    Both sync- and async-capable: on an async stack it awaits ``averify``. The verifier is built
    when Django loads its middleware, so bad settings fail the start-up. With
    :class:`~cognito_guard.integrations.django.CognitoBackend` on, it also sets ``request.user``
    to the linked ``AUTH_USER_MODEL`` row. With ``COGNITO_GUARD["RESOURCE"]`` it answers the
    resource's RFC 9728 metadata path itself (:mod:`~cognito_guard.integrations.django.metadata`).

    Example::

        MIDDLEWARE = [..., "cognito_guard.integrations.django.CognitoMiddleware"]
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.guard = build_guard()
        backend = cognito_backend()
        # None unless CognitoBackend is in AUTHENTICATION_BACKENDS
        self.users = None if backend is None else user_linker(backend, self.guard.verifier.issuers)
        if sign_in_from_settings() is not None:
            connect_sign_out()  # Django's logout (the admin's too) ends the web sign-in session
        self.metadata = served_metadata(self.guard)
        self.metadata_path = None if self.metadata is None else self.metadata.path
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if request.path_info == self.metadata_path:
            return self._metadata(request)
        if self.is_async:
            return self.__acall__(request)
        # WSGI and ASGI both fold repeated headers into one value, which the parser then rejects.
        # The cookie is read (web_request) only by a guard that takes it, on a request without
        # the header.
        value = request.META.get("HTTP_AUTHORIZATION")
        credentials = Credentials(() if value is None else (value,), request, web_request)
        claims: CognitoClaims | None = None
        error: CognitoGuardError | None = None
        try:
            claims = self.guard.authenticate(credentials)
        except CognitoGuardError as exc:
            error = exc
        user = None
        if self.users is not None:
            claims, error, user = self.users.attach(request, claims, error)
        # One dict update and a tuple: this runs on every request, and most requests never ask
        # for the RequestState that request_state() builds of it.
        request.__dict__.update({"cognito_user": claims, STATE: (self.guard, claims, error, user)})
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        value = request.META.get("HTTP_AUTHORIZATION")
        credentials = Credentials(() if value is None else (value,), request, web_request)
        claims: CognitoClaims | None = None
        error: CognitoGuardError | None = None
        try:
            claims = await self.guard.aauthenticate(credentials)
        except CognitoGuardError as exc:
            error = exc
        user = None
        if self.users is not None:
            claims, error, user = await self.users.aattach(request, claims, error)
        request.__dict__.update({"cognito_user": claims, STATE: (self.guard, claims, error, user)})
        return await cast("Awaitable[HttpResponseBase]", self.get_response(request))

    def _metadata(self, request: HttpRequest) -> Any:
        """The metadata document's answer: the response, or on an async stack an awaitable."""
        assert self.metadata is not None  # noqa: S101 - metadata_path is set only with it
        response = metadata_response(self.metadata, request)
        return _ready(response) if self.is_async else response


async def _ready(response: HttpResponseBase) -> HttpResponseBase:
    return response


def found(request: HttpRequest) -> Found:
    """What the middleware stored on ``request``, as :data:`Found` (raises ImproperlyConfigured
    without the middleware); :func:`request_state` is the same as a :class:`RequestState`.

    Example: ``guard, claims, error, user = found(request)``
    """
    state: Found | None = request.__dict__.get(STATE)
    if state is None:
        # Not the Django request itself (or no middleware): look through a wrapper. Only here,
        # as getattr() of a missing attribute raises and catches an AttributeError each time.
        inner = drf_django_request(request)
        state = None if inner is None else inner.__dict__.get(STATE)
        if state is None:
            raise ImproperlyConfigured(
                f"cognito_guard needs {MIDDLEWARE_PATH!r} in settings.MIDDLEWARE to protect views"
            )
    return state


def request_state(request: HttpRequest) -> RequestState:
    """What the middleware found on ``request`` (raises ImproperlyConfigured without it).

    A Django REST framework ``Request`` is looked through to the Django request it wraps, so the
    decorators also work on the methods of an ``APIView`` (``method_decorator``).

    Example: ``request_state(request).claims``
    """
    return RequestState(*found(request))
