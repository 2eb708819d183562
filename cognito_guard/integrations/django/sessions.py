"""Django glue of web sign-in: the four views and Django's requests and responses converted.

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

from collections.abc import Callable
from http.cookies import SimpleCookie

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from ...claims import CognitoClaims
from ...errors import ConfigurationError
from ...sessions import WebResponse, WebSignIn
from .middleware import web_request
from .settings import SIGN_IN_SETTING, sign_in_from_settings

__all__ = [
    "SETTING",
    "aauthenticate",
    "authenticate",
    "route_view",
    "sign_in_from_settings",
    "to_response",
    "web_request",
]

SETTING = SIGN_IN_SETTING
"""The key of ``settings.COGNITO_GUARD`` naming the :class:`WebSignIn`."""


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
