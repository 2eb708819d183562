"""Flask glue of web sign-in: the four routes, and the request as the sign-in flow sees it.

Used by :class:`~cognito_guard.integrations.flask.CognitoGuard` when given ``sign_in=``::

    CognitoGuard(app, verifier=verifier, sign_in=sign_in)   # mounts /auth/login, ... /auth/user

The flow itself is :class:`~cognito_guard.sessions.WebSignIn`; this module only converts
Flask's request and response. The guard reads the session cookie through :func:`web_request`
(the converter of the request's :class:`~cognito_guard.bearer.Credentials`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response

from ...claims import CognitoClaims
from ...sessions.signin import WebSignIn
from ...sessions.web import WebRequest, WebResponse, mounted_routes
from ._compat import flask_wtf_validated, request_object

if TYPE_CHECKING:
    from flask import Request

__all__ = ["aauthenticate", "authenticate", "install", "to_response", "web_request"]


def web_request(request: Request | None = None) -> WebRequest:
    """A Flask request (default: the current one) as a :class:`~cognito_guard.sessions.WebRequest`.

    A cookie-authenticated unsafe request without ``X-CSRF: 1`` passes the CSRF rule when
    Flask-WTF's ``CSRFProtect`` validated its CSRF token (an HTML form's ``csrf_token``).

    Example: ``web_request().cookies``
    """
    if request is None:
        request = request_object()
    return WebRequest(
        method=request.method,
        path=request.path,
        query={key: request.args[key] for key in request.args},
        headers={key.lower(): value for key, value in request.headers.items()},
        cookies=dict(request.cookies),
        scheme=request.scheme,
        framework_csrf=flask_wtf_validated,
    )


def to_response(answer: WebResponse) -> Response:
    """A Flask response of a :class:`~cognito_guard.sessions.WebResponse`."""
    response = Response(answer.body, status=answer.status)
    response.headers.clear()
    for name, value in answer.headers:
        response.headers.add(name, value)
    return response


def install(app: Flask, sign_in: WebSignIn) -> None:
    """Mount the routes of ``sign_in`` on ``app`` (its guard comes from ``guard_for``)."""

    def sign_in_route() -> Response:
        answer = sign_in.handle(web_request())
        if answer is None:  # pragma: no cover - only the four paths are routed here
            return Response(status=404)
        return to_response(answer)

    for path, endpoint, method in mounted_routes(sign_in.prefix):
        app.add_url_rule(path, endpoint=endpoint, view_func=sign_in_route, methods=[method])


def authenticate(sign_in: WebSignIn) -> CognitoClaims | None:
    """The claims of the current request's session cookie (refreshing when due), or None."""
    return sign_in.authenticate(web_request())


async def aauthenticate(sign_in: WebSignIn) -> CognitoClaims | None:
    """Like :func:`authenticate`, without blocking the event loop."""
    return await sign_in.aauthenticate(web_request())
