"""Protect an MCP server (the MCP Python SDK, ``mcp``) with Cognito access tokens.

Given a token verifier and ``AuthSettings``, the SDK itself serves the RFC 9728 metadata, answers
a request without a valid token with its 401 challenge (``resource_metadata="..."``) and hands
each tool the caller's ``AccessToken``. What it cannot do is judge a Cognito token: that is
:class:`CognitoTokenVerifier`, the SDK's ``TokenVerifier`` over a
:class:`~cognito_guard.CognitoVerifier`::

    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer        # mcp 1.x: mcp.server.fastmcp.FastMCP

    from cognito_guard import CognitoVerifier
    from cognito_guard.integrations.mcp import CognitoTokenVerifier

    RESOURCE = "https://mcp.example.com/mcp"
    verifier = CognitoVerifier(user_pool_id="eu-west-1_AbCdEf123",
                               client_id="4a1b2c3d4e5f6g7h8i9j0k1l2m", audience=RESOURCE)
    token_verifier = CognitoTokenVerifier(verifier)
    server = MCPServer("orders", token_verifier=token_verifier, auth=AuthSettings(
        issuer_url=verifier.issuers[0], resource_server_url=RESOURCE,
        validate_token_resource=True))
    app = token_verifier.wrap(server.streamable_http_app())    # uvicorn module:app

``verify_token`` verifies with ``averify`` (the event loop never waits on a JWKS fetch) and
returns None for every rejected token, which the SDK answers with 401. When the verdict cannot be
had at all (the signing keys or the revocation list are unavailable) a 401 would tell the client
its token is bad: :meth:`CognitoTokenVerifier.wrap` puts the SDK's app behind a thin ASGI wrapper
that answers those requests 503 with ``Retry-After``, the answer every other adapter gives.
Without the wrapper such a request is an error (the SDK answers 500, and the log says why).

The module imports ``mcp`` only when a :class:`CognitoTokenVerifier` is made: install it with
``pip install 'cognito-guard[mcp]'``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._audience import matched_audience
from ..bearer import BearerGuard
from ..claims import CognitoClaims
from ..errors import ConfigurationError, ServiceUnavailableError, TokenError
from ..verifier import CognitoVerifier

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken

__all__ = ["CognitoTokenVerifier"]

log = logging.getLogger("cognito_guard")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_INSTALL_HINT = "install it with: pip install 'cognito-guard[mcp]'"


@dataclass
class _Request:
    """The request :meth:`CognitoTokenVerifier.wrap` is answering, and why it cannot be judged."""

    method: str | None
    path: str | None
    unavailable: ServiceUnavailableError | None = None


# Set by the wrapper for each HTTP request; the SDK's authentication runs in the request's own
# task, so the verifier finds it there.
_REQUEST: ContextVar[_Request | None] = ContextVar("cognito_guard_mcp_request", default=None)


def _access_token_class() -> type[AccessToken]:
    try:
        from mcp.server.auth.provider import AccessToken
    except ImportError:
        raise ConfigurationError(
            f"CognitoTokenVerifier needs the MCP Python SDK ('mcp'); {_INSTALL_HINT}"
        ) from None
    model: type[AccessToken] = AccessToken  # typed: mypy may run where mcp is not installed
    return model


class CognitoTokenVerifier:
    """The MCP SDK's ``TokenVerifier`` for Cognito access tokens.

    ``await verify_token(token)`` returns the SDK's ``AccessToken`` for a token ``verifier``
    accepts, and None for any other (the SDK answers 401). The ``AccessToken`` carries:

    - ``client_id``: the app client the token was issued to;
    - ``scopes``: the token's ``scope`` claim, split on spaces;
    - ``expires_at``: its ``exp``;
    - ``resource``: the entry of its ``aud`` that is one of the verifier's audiences (None for a
      verifier without ``audience=``): the RFC 8707 resource the token was issued for;
    - ``subject`` (``sub``) and ``claims`` (every claim, ``iss`` included) on SDK releases whose
      ``AccessToken`` has them (mcp 1.28 and later), which identify the caller to tools and bind
      the SDK's sessions to that caller.

    Scope and group demands belong to the tools (or ``AuthSettings.required_scopes``, answered
    403 by the SDK); a verifier that demands ``scopes=`` itself turns a token lacking them into
    a 401. ``realm`` is that of the 503 answer's log records (see :class:`BearerGuard`).

    Example: ``MCPServer("orders", token_verifier=CognitoTokenVerifier(verifier), auth=...)``
    """

    def __init__(self, verifier: CognitoVerifier, *, realm: str | None = None) -> None:
        self._guard = BearerGuard(verifier, realm=realm)
        if verifier.token_use != "access":
            raise ConfigurationError(
                "an MCP server takes access tokens: give CognitoTokenVerifier a verifier with "
                f"token_use='access', not {verifier.token_use or 'any'!r}"
            )
        self.verifier = verifier
        self._model = _access_token_class()
        fields = getattr(self._model, "model_fields", {})
        self._optional = {name for name in ("subject", "claims") if name in fields}

    async def verify_token(self, token: str) -> AccessToken | None:
        """The ``AccessToken`` of a valid Cognito access token; None for any rejected one.

        Never blocks the event loop. Raises only when the token cannot be judged (signing keys
        or revocation list unavailable) outside :meth:`wrap`; inside it, the request is
        answered 503.
        """
        request = _REQUEST.get()
        try:
            claims = await self._guard.aauthenticate(("Bearer " + token,))
        except TokenError as exc:
            where = request or _Request(None, None)
            self._guard.answer(exc, method=where.method, path=where.path)  # its log record
            return None
        except ServiceUnavailableError as exc:
            if request is None:
                log.error(
                    "an MCP request cannot be authenticated now (%s) and is answered 500: serve "
                    "the SDK's app through CognitoTokenVerifier.wrap(app) to answer 503 with "
                    "Retry-After",
                    type(exc).__name__,
                )
                raise
            request.unavailable = exc
            return None
        if claims is None:  # no credentials at all: not reached, the SDK sends a token
            return None
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: CognitoClaims) -> AccessToken:
        scope = claims.get("scope")
        audiences = self.verifier.audiences
        fields: dict[str, Any] = {
            "token": token,
            "client_id": claims.client_id or "",
            "scopes": scope.split() if isinstance(scope, str) else [],
            "expires_at": claims.expires_at,
            "resource": matched_audience(claims.get("aud"), audiences) if audiences else None,
        }
        if "subject" in self._optional:
            fields["subject"] = claims.sub
        if "claims" in self._optional:
            fields["claims"] = dict(claims)
        return self._model(**fields)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` (the SDK's ASGI app) answering 503 when a token cannot be judged now.

        When the signing keys or the revocation list are unavailable, :meth:`verify_token` gives
        the SDK no verdict and the SDK answers 401; the wrapper replaces that 401 with the 503
        of :meth:`BearerGuard.answer <cognito_guard.bearer.BearerGuard.answer>` (``Retry-After``,
        ``Cache-Control: no-store``, a JSON body). Every other answer passes unchanged, and so
        does every request that is not HTTP.

        Example: ``app = token_verifier.wrap(server.streamable_http_app())``
        """

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope.get("type") != "http":
                await app(scope, receive, send)
                return
            request = _Request(scope.get("method"), scope.get("path"))
            replaced = False

            async def answer_or_pass(message: Message) -> None:
                nonlocal replaced
                if replaced:
                    return  # the body of the 401 that the 503 replaced
                unavailable = request.unavailable
                if (
                    unavailable is not None
                    and message.get("type") == "http.response.start"
                    and message.get("status") == 401
                ):
                    replaced = True
                    await self._send_unavailable(request, unavailable, send)
                    return
                await send(message)

            reset = _REQUEST.set(request)
            try:
                await app(scope, receive, answer_or_pass)
            finally:
                _REQUEST.reset(reset)

        return guarded

    async def _send_unavailable(
        self, request: _Request, error: ServiceUnavailableError, send: Send
    ) -> None:
        answer = self._guard.answer(error, method=request.method, path=request.path)
        body = answer.json()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *(
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in answer.headers
            ),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
