"""Plain ASGI middleware protecting any ASGI application (Quart, Litestar, BlackSheep, raw ASGI).

``protect`` maps path prefixes to the :class:`~cognito_guard.bearer.Requirement` of everything
below them::

    app = CognitoASGIMiddleware(
        app,
        verifier,                                   # default: verifier_from_env()
        protect={
            "/": Requirement(),                     # deny by default: any valid token
            "/health": None,                        # public
            "GET /orders": Requirement.of(scopes="orders/read"),
            "POST /orders": Requirement.of(scopes="orders/write"),
            "/admin": Requirement.of(groups="admins"),
        },
    )

The rules are :class:`cognito_guard.rules.PathRules`, shared with the WSGI middleware: the longest
matching prefix wins, a rule for the request's method beats a method-less one, ``HEAD`` follows
``GET``, ``WEBSOCKET /prefix`` names WebSocket handshakes, ``None`` is public, and ``protect``
defaults to ``{"/": Requirement()}``: every path needs a valid token.

Rules match the path below the mount point, ``scope["path"]`` less ``scope["root_path"]``, as
Starlette's router does: under ``Mount("/api", app=CognitoASGIMiddleware(...))`` or
``uvicorn --root-path /api``, a request for ``/api/admin/users`` meets the ``"/admin"`` rule.
A path with ``.``, ``..`` or empty segments (``/public/../admin``, ``/admin//x``, percent-encoded
forms included) is refused with 400 ``invalid_request`` before any rule is chosen: the
application would route it differently from any normalised form the rules could judge.

On a protected path the token is verified with ``averify`` (nothing blocks the event loop) and
the claims are put in the scope as ``scope["cognito_guard.claims"]`` (a
:class:`~cognito_guard.CognitoClaims`) for the application. Public paths pass through untouched.
A rejected HTTP request gets :meth:`BearerGuard.answer <cognito_guard.bearer.BearerGuard.answer>`:
its status, ``WWW-Authenticate`` and ``Cache-Control`` headers and JSON body. A rejected
WebSocket handshake is closed before it is accepted, with code 1008 (policy violation), or 1013
(try again later) when the signing keys cannot be had; servers send that as an HTTP 403.

With ``resource="https://api.example.com"`` (one of the verifier's audiences) the middleware
answers ``GET /.well-known/oauth-protected-resource`` (RFC 9728; for a resource with a path, the
path follows: ``/.well-known/oauth-protected-resource/orders``) itself, whatever ``protect``
says, and every challenge carries ``resource_metadata="<that URL>"``. The path is matched below
the mount point, like the rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from ..bearer import Answer
from ..errors import CognitoGuardError, InvalidPathError
from ._middleware import CLAIMS_KEY, PathMiddleware, answer_response
from ._resource import ServedMetadata

__all__ = [
    "CLAIMS_KEY",
    "CognitoASGIMiddleware",
    "MetadataMiddleware",
    "send_answer",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_WEBSOCKET = "WEBSOCKET"


def _route_path(scope: Scope) -> str:
    """The request's path below its mount point: what routers match and path rules judge.

    ``scope["path"]`` holds the whole path, ``scope["root_path"]`` (uvicorn's ``--root-path``,
    a Starlette ``Mount``) included. Some servers leave the root path out of ``path``: a path
    not starting with the root path on a segment boundary is taken as it is. This is the rule
    of Starlette's own router (``starlette._utils.get_route_path``), so the rules judge the
    path that a Starlette or FastAPI application below routes.

    Example::

        _route_path({"path": "/api/admin/users", "root_path": "/api"})   # -> "/admin/users"
        _route_path({"path": "/admin/users", "root_path": "/api"})       # -> "/admin/users"
    """
    path = str(scope.get("path") or "/")
    root = str(scope.get("root_path") or "")
    if not root or not path.startswith(root):
        return path
    rest = path[len(root) :]
    if not rest:
        return "/"
    return rest if rest[0] == "/" else path


async def send_response(
    status: int, headers: Sequence[tuple[str, str]], body: bytes, send: Send
) -> None:
    """Send one complete HTTP response on ``send`` (header names in lower case, as ASGI wants).

    Example: ``await send_response(204, [("Allow", "GET")], b"", send)``
    """
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_answer(answer: Answer, send: Send) -> None:
    """Send :meth:`BearerGuard.answer <cognito_guard.bearer.BearerGuard.answer>`'s answer as
    the HTTP response on ``send``: its status, headers and JSON body.

    Example: ``await send_answer(guard.answer(exc, method="GET", path="/orders"), send)``
    """
    headers, body = answer_response(answer)
    await send_response(answer.status, headers, body, send)


async def _send_metadata(metadata: ServedMetadata, scope: Scope, send: Send) -> None:
    response = metadata.response(str(scope.get("method", "GET")))
    await send_response(response.status, response.headers, response.body, send)


class MetadataMiddleware:
    """Answers HTTP requests for the RFC 9728 metadata path itself; passes every other request.

    What the Starlette adapter's ``CognitoGuard(app, resource=...)`` installs: ahead of the
    routes and of any authentication middleware, so the document is public. The path is matched
    below the mount point, like the routes.

    Example: ``app = MetadataMiddleware(app, ServedMetadata(guard.resource))``
    """

    def __init__(self, app: ASGIApp, metadata: ServedMetadata) -> None:
        self.app = app
        self.metadata = metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _route_path(scope) == self.metadata.path:
            await _send_metadata(self.metadata, scope, send)
            return
        await self.app(scope, receive, send)


class CognitoASGIMiddleware(PathMiddleware[ASGIApp]):
    """ASGI middleware demanding Cognito tokens on the paths of ``protect`` (see the module).

    Configuration errors (no verifier settings, a bad ``protect`` key) raise
    :class:`~cognito_guard.ConfigurationError` here, at start-up.

    Example::

        app = CognitoASGIMiddleware(app, protect={"/api": Requirement.of(scopes="api/read")})

        # in the application:
        claims = scope["cognito_guard.claims"]
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = _WEBSOCKET if kind == "websocket" else str(scope.get("method", "GET"))
        path = _route_path(scope)
        if path == self.metadata_path and kind == "http":
            assert self.metadata is not None  # noqa: S101 - metadata_path is set only with it
            await _send_metadata(self.metadata, scope, send)
            return
        try:
            requirement = self.rules.requirement_for(method, path)
        except InvalidPathError as exc:
            answer = self.guard.answer(exc, method=method, path=str(scope.get("path", "/")))
            await self._reject(kind, answer, send)
            return
        if requirement is None:  # public: untouched, but the key is there as in the WSGI middleware
            await self.app({**scope, CLAIMS_KEY: None}, receive, send)
            return
        # Bearer-only: the plain header values, no Credentials (there is no cookie to offer).
        values = [
            value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name.lower() == b"authorization"
        ]
        try:
            claims = self.guard.authorize(await self.guard.aauthenticate(values), requirement)
        except CognitoGuardError as exc:
            answer = self.guard.answer(exc, method=method, path=str(scope.get("path", "/")))
            await self._reject(kind, answer, send)
            return
        await self.app({**scope, CLAIMS_KEY: claims}, receive, send)

    @staticmethod
    async def _reject(kind: str, answer: Answer, send: Send) -> None:
        if kind == "websocket":
            code = 1013 if answer.status == 503 else 1008
            await send({"type": "websocket.close", "code": code, "reason": answer.error})
            return
        await send_answer(answer, send)
