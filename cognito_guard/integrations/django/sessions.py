"""Django glue of web sign-in: the settings, the four views and authenticating by the cookie.

Setup::

    COGNITO_GUARD = {"USER_POOL_ID": ..., "CLIENT_ID": ..., "SIGN_IN": "myproject.auth.sign_in"}
    urlpatterns = [..., path("auth/", include("cognito_guard.integrations.django.urls"))]

``SIGN_IN`` is the dotted path of a :class:`~cognito_guard.sessions.WebSignIn`, or of a function
returning one (called once). :class:`~cognito_guard.integrations.django.CognitoMiddleware` then
authenticates requests without an ``Authorization`` header by the session cookie, so the
decorators and DRF accept either. The views are ``csrf_exempt``: cookie-authenticated unsafe
requests are protected by the ``X-CSRF: 1`` rule instead (a project that also runs Django's
``CsrfViewMiddleware`` must exempt or token its cookie-authenticated API views as usual).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ...claims import CognitoClaims
from ...errors import ConfigurationError
from ...sessions import WebRequest, WebResponse, WebSignIn
from .settings import object_setting

__all__ = [
    "SETTING",
    "aauthenticate",
    "authenticate",
    "route_view",
    "sign_in_from_settings",
    "to_response",
    "web_request",
]

SETTING = "SIGN_IN"
"""The key of ``settings.COGNITO_GUARD`` naming the :class:`WebSignIn`."""

_cache: dict[str, WebSignIn] = {}
_cache_lock = threading.Lock()


def sign_in_from_settings() -> WebSignIn | None:
    """The :class:`WebSignIn` named by ``COGNITO_GUARD["SIGN_IN"]``, or None (built once)."""
    config = getattr(settings, "COGNITO_GUARD", None)
    if not isinstance(config, Mapping):
        return None
    value = config.get(SETTING)
    if value is None or isinstance(value, WebSignIn):
        return value
    name = f'COGNITO_GUARD["{SETTING}"]'
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be the dotted path of a WebSignIn (or of a function returning one), "
            f"not {type(value).__name__}"
        )
    with _cache_lock:  # built once: a factory must not make a second store per middleware
        cached = _cache.get(value)
        if cached is None:
            cached = _cache[value] = object_setting(value, name, WebSignIn)
        return cached


def web_request(request: HttpRequest) -> WebRequest:
    """A Django request as a :class:`~cognito_guard.sessions.WebRequest`."""
    return WebRequest(
        method=request.method or "GET",
        path=request.path,
        query={key: request.GET[key] for key in request.GET},
        headers={key.lower(): value for key, value in request.headers.items()},
        cookies=dict(request.COOKIES),
        scheme=request.scheme or "http",
    )


def to_response(answer: WebResponse) -> HttpResponse:
    """A Django response of a :class:`~cognito_guard.sessions.WebResponse`."""
    response = HttpResponse(answer.body, status=answer.status)
    del response["Content-Type"]
    for name, value in answer.headers:
        if name.lower() == "set-cookie":
            _set_cookie(response, value)
        else:
            response[name] = value
    return response


def _set_cookie(response: HttpResponse, header: str) -> None:
    # Django keeps cookies in a SimpleCookie (one Set-Cookie line each); rebuild ours in it.
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    for name, morsel in jar.items():
        response.cookies[name] = morsel


def route_view(name: str) -> Callable[[HttpRequest], HttpResponse]:
    """The Django view of sign-in route ``name`` (``login``, ``callback``, ``logout``, ``user``)."""

    @csrf_exempt  # the X-CSRF rule protects logout; the other routes are safe methods
    def view(request: HttpRequest) -> HttpResponse:
        sign_in = sign_in_from_settings()
        if sign_in is None:
            raise ConfigurationError(
                'cognito_guard: the sign-in URLs need COGNITO_GUARD["SIGN_IN"] in the settings'
            )
        return to_response(sign_in.handle_route(name, web_request(request)))

    view.__name__ = view.__qualname__ = f"cognito_guard_sign_in_{name}"
    return view


def authenticate(sign_in: WebSignIn, request: HttpRequest) -> CognitoClaims | None:
    """The claims of the request's session cookie (refreshing when due), or None."""
    return sign_in.authenticate(web_request(request))


async def aauthenticate(sign_in: WebSignIn, request: HttpRequest) -> CognitoClaims | None:
    """Like :func:`authenticate`, without blocking the event loop."""
    return await sign_in.aauthenticate(web_request(request))
