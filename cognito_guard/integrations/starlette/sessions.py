"""Starlette / FastAPI glue of web sign-in: the four routes, and authenticating by the cookie.

Used by :class:`~cognito_guard.integrations.starlette.CognitoGuard` when given ``sign_in=``::

    CognitoGuard(app, verifier=verifier, sign_in=sign_in)   # mounts /auth/login, ... /auth/user

The flow is :class:`~cognito_guard.sessions.WebSignIn`, run on a worker thread (it may wait for
Cognito, Redis or another request's refresh); this module only converts requests and responses.
WebSocket handshakes authenticated by the cookie must come from the app's own origin (browsers
send cookies on cross-site handshakes, and no CORS preflight protects them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ..bearer import Answer
from ..claims import CognitoClaims
from ..sessions import SessionAuthError, SessionGuard, WebRequest, WebResponse, WebSignIn
from ..sessions.web import ROUTES
from ..verifier import CognitoVerifier

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["aauthenticate", "install", "to_response", "web_request"]


def web_request(conn: HTTPConnection) -> WebRequest:
    """A request or WebSocket handshake as a :class:`~cognito_guard.sessions.WebRequest`."""
    return WebRequest(
        method=str(conn.scope.get("method", "GET")),
        path=conn.url.path,
        query=dict(conn.query_params),
        headers={key: value for key, value in conn.headers.items()},
        cookies=dict(conn.cookies),
        scheme="https" if conn.url.scheme in ("https", "wss") else "http",
    )


def to_response(answer: WebResponse) -> Response:
    """A Starlette response of a :class:`~cognito_guard.sessions.WebResponse` (headers repeat)."""
    response = Response(answer.body, status_code=answer.status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
    )
    return response


def install(
    app: Starlette, verifier: CognitoVerifier, sign_in: WebSignIn, realm: str | None
) -> SessionGuard:
    """Mount the routes of ``sign_in`` on ``app``; the guard the dependencies then use."""
    guard = SessionGuard(verifier, sign_in=sign_in, realm=realm)

    async def sign_in_route(request: Request) -> Response:
        answer = await sign_in.ahandle(web_request(request))
        if answer is None:  # pragma: no cover - only the four paths are routed here
            return Response(status_code=404)
        return to_response(answer)

    for name, method in ROUTES:
        app.add_route(
            f"{sign_in.prefix}/{name}",
            sign_in_route,
            methods=[method],
            name=f"cognito_guard_sign_in_{name}",
            include_in_schema=False,
        )
    return guard


def _same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if not origin:
        return False
    try:
        return urlsplit(origin).netloc == conn.headers.get("host", "")
    except ValueError:
        return False


async def aauthenticate(conn: HTTPConnection, sign_in: WebSignIn) -> CognitoClaims | None:
    """The claims of the connection's session cookie (refreshing when due), or None."""
    request = web_request(conn)
    if (
        conn.scope["type"] == "websocket"
        and sign_in.cookie.read(request) is not None
        and not _same_origin(conn)
    ):
        raise SessionAuthError(
            Answer(
                403,
                (("Cache-Control", "no-store"),),
                "cross_origin_websocket",
                "a WebSocket authenticated by the session cookie must come from this origin",
            )
        )
    return await sign_in.aauthenticate(request)
