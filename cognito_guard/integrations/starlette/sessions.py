"""Starlette / FastAPI glue of web sign-in: the four routes, and the request as the flow sees it.

Used by :class:`~cognito_guard.integrations.starlette.CognitoGuard` when given ``sign_in=``::

    CognitoGuard(app, verifier=verifier, sign_in=sign_in)   # mounts /auth/login, ... /auth/user

The flow is :class:`~cognito_guard.sessions.WebSignIn`, run on a worker thread (it may wait for
Cognito, Redis or another request's refresh); this module only converts requests and responses.
The guard reads the session cookie through :func:`web_request` (the converter of the
connection's :class:`~cognito_guard.bearer.Credentials`). A WebSocket handshake is marked as one,
so that the flow demands it come from the app's own origin when the cookie authenticates it
(browsers send cookies on cross-site handshakes, and no CORS preflight protects them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ...claims import CognitoClaims
from ...sessions.signin import WebSignIn
from ...sessions.web import WebRequest, WebResponse, mounted_routes

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["aauthenticate", "install", "to_response", "web_request"]


def web_request(conn: HTTPConnection) -> WebRequest:
    """A request or WebSocket handshake as a :class:`~cognito_guard.sessions.WebRequest`.

    Example: ``web_request(request).cookies``
    """
    return WebRequest(
        method=str(conn.scope.get("method", "GET")),
        path=conn.url.path,
        query=dict(conn.query_params),
        headers={key: value for key, value in conn.headers.items()},
        cookies=dict(conn.cookies),
        scheme="https" if conn.url.scheme in ("https", "wss") else "http",
        websocket=conn.scope["type"] == "websocket",
    )


def to_response(answer: WebResponse) -> Response:
    """A Starlette response of a :class:`~cognito_guard.sessions.WebResponse` (headers repeat)."""
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    )
    return response


def install(app: Starlette, sign_in: WebSignIn) -> None:
    """Mount the routes of ``sign_in`` on ``app`` (its guard comes from ``guard_for``)."""

    async def sign_in_route(request: Request) -> Response:
        answer = await sign_in.ahandle(web_request(request))
        if answer is None:  # pragma: no cover - only the four paths are routed here
            return Response(status_code=404)
        return to_response(answer)

    for path, name, method in mounted_routes(sign_in.prefix):
        app.add_route(path, sign_in_route, methods=[method], name=name, include_in_schema=False)


async def aauthenticate(conn: HTTPConnection, sign_in: WebSignIn) -> CognitoClaims | None:
    """The claims of the connection's session cookie (refreshing when due), or None."""
    return await sign_in.aauthenticate(web_request(conn))
