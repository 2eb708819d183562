"""Starlette and FastAPI adapter: dependencies, an authentication backend and ``requires``.

Set-up, once per application (the verifier comes from ``COGNITO_*`` environment variables when
omitted; bad or missing settings raise :class:`~cognito_guard.ConfigurationError` right there)::

    from fastapi import Depends, FastAPI, Security
    from cognito_guard import CognitoClaims
    from cognito_guard.integrations.starlette import CognitoGuard, cognito_user, require_scope

    app = FastAPI()
    CognitoGuard(app)                  # or CognitoGuard(app, verifier=CognitoVerifier(...))

    @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
    async def orders(user: CognitoClaims = Depends(cognito_user)):
        return {"user": user.sub}

    @app.post("/orders")
    async def create(user: CognitoClaims = Security(cognito_user, scopes=["orders/write"])):
        ...

How the pieces fit:

- :class:`CognitoGuard` stores a :class:`~cognito_guard.bearer.BearerGuard` on ``app.state`` and
  registers the handler that turns :class:`CognitoHTTPException` into the RFC 6750 answer
  (status, ``WWW-Authenticate``, ``{"error": ..., "error_description": ...}``). Register your own
  handler for :class:`CognitoHTTPException` to reshape the answer; ``exc.answer`` holds it.
- :data:`cognito_user`, :data:`cognito_user_optional`, :func:`require_scope` and
  :func:`require_group` are dependencies: plain async callables taking the request, which FastAPI
  calls with ``Depends``/``Security`` and Starlette code may await directly. With FastAPI
  installed they honour ``SecurityScopes`` and are, to FastAPI, an HTTP bearer security scheme
  (``CognitoBearer``, bearer format JWT; one dependency, no sub-dependency), so the OpenAPI
  document and ``/docs`` show it. FastAPI
  is imported only when FastAPI inspects a dependency, never by plain Starlette use.
- :class:`CognitoGuard` also makes FastAPI's OpenAPI document truthful (every scope a route
  demands, ``require_scope``'s included, in one ``CognitoBearer`` requirement; ``[{}, ...]`` for
  :data:`cognito_user_optional`; the 400/401/403/503 answers with their body schema), and checks
  the routes when Starlette builds the application (first request or lifespan start-up): a
  ``Depends(require_scope)`` left uncalled refuses every request with a ConfigurationError.
- For plain Starlette, ``CognitoGuard(app, authentication=True)`` also installs Starlette's
  ``AuthenticationMiddleware`` with :class:`CognitoAuthBackend`: ``request.user`` is a
  :class:`CognitoUser`, ``request.auth.scopes`` holds ``"authenticated"`` and the token's scopes,
  and Starlette's own ``@requires("orders/read")`` admits by them. Starlette's decorator answers a
  bare 403 without a challenge, though; this package's :func:`requires` is a drop-in that gives
  the RFC 6750 answers (401 without a token, 403 ``insufficient_scope`` with ``scope="..."``).

Every token is verified with ``averify``: nothing blocks the event loop. One request is verified
at most once, however many dependencies it goes through.

WebSocket routes: the same dependencies (and :func:`requires`) work on them, reading the
``Authorization`` header of the handshake. A rejected handshake is closed before it is accepted
with code 1008 (policy violation), or 1013 (try again later) when the signing keys cannot be had;
ASGI servers such as uvicorn turn a close before accept into an HTTP 403 response. Behind
:class:`CognitoAuthBackend`, a handshake with a bad token is closed by Starlette's
``AuthenticationMiddleware`` itself, with code 1000.

The package: :mod:`.setup` (:class:`CognitoGuard`), :mod:`.auth` (the app's guard and the
per-connection authentication), :mod:`.dependencies` (FastAPI dependencies and the security
scheme), :mod:`.backend` (Starlette's ``AuthenticationBackend`` and :func:`requires`),
:mod:`.responses`, :mod:`.routes` (the start-up checks), :mod:`.openapi`, :mod:`.sessions` (web
sign-in's routes) and :mod:`._compat` (every reach into Starlette and FastAPI internals).
"""

from __future__ import annotations

from . import backend, dependencies, responses
from .auth import guard_of
from .backend import *  # noqa: F403 - exactly the names of backend.__all__
from .dependencies import *  # noqa: F403 - exactly the names of dependencies.__all__
from .responses import *  # noqa: F403 - exactly the names of responses.__all__
from .setup import CognitoGuard

__all__ = ["CognitoGuard", "guard_of"]
__all__ += backend.__all__
__all__ += dependencies.__all__
__all__ += responses.__all__
