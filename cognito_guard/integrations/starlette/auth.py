"""Per-connection authentication: the app's guard, and the one call of its ``aauthenticate``.

A connection (an HTTP request or a WebSocket handshake) is authenticated at most once, however
many dependencies (or the authentication backend) ask for its user: the outcome is kept in its
ASGI scope.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from ...bearer import BearerGuard, Credentials, Requirement
from ...claims import CognitoClaims
from ...errors import CognitoGuardError
from ._compat import STATE_DICT
from .responses import rejection
from .sessions import web_request

__all__ = ["CLAIMS_KEY", "STATE_ATTR", "authorize", "claims_of", "credentials", "guard_of"]

STATE_ATTR = "cognito_guard"
"""The attribute of ``app.state`` holding the app's guard."""

CLAIMS_KEY = "cognito_guard.starlette.claims"
"""The scope key of a connection's verified claims (or None: no credentials)."""


def guard_of(conn: HTTPConnection) -> BearerGuard:
    """The :class:`~cognito_guard.bearer.BearerGuard` that :class:`CognitoGuard` put on the app.

    Raises RuntimeError when the application was not set up with :class:`CognitoGuard`.

    Example: ``answer = guard_of(request).answer(exc)``
    """
    state = getattr(conn.scope.get("app"), "state", None)
    # getattr() stays the way for a state object that is not Starlette's State.
    values = getattr(state, STATE_DICT, None)
    guard = values.get(STATE_ATTR) if type(values) is dict else getattr(state, STATE_ATTR, None)
    if not isinstance(guard, BearerGuard):
        raise RuntimeError(
            "this application has no CognitoGuard, so cognito_guard refuses the request; call "
            "CognitoGuard(app, ...) where the application is created"
        )
    return guard


def credentials(conn: HTTPConnection) -> Credentials:
    """The :class:`~cognito_guard.bearer.Credentials` of a request or WebSocket handshake.

    Example: ``claims = await guard.aauthenticate(credentials(request))``
    """
    # What conn.headers.getlist("authorization") gives (ASGI servers send header names in lower
    # case), read from the raw ASGI headers without building a Headers object per request.
    values = [v.decode("latin-1") for name, v in conn.scope["headers"] if name == b"authorization"]
    return Credentials(values, conn, web_request)


async def claims_of(conn: HTTPConnection, guard: BearerGuard) -> CognitoClaims | None:
    """The connection's verified claims (None: no credentials), authenticated once per connection.

    Raises what :func:`~.responses.rejection` gives for a refused connection.
    """
    scope = conn.scope
    if CLAIMS_KEY in scope:
        claims: CognitoClaims | None = scope[CLAIMS_KEY]
        return claims
    # credentials(conn), inlined: a function call is a tenth of this step's own cost.
    values = [v.decode("latin-1") for name, v in scope["headers"] if name == b"authorization"]
    try:
        claims = await guard.aauthenticate(Credentials(values, conn, web_request))
    except CognitoGuardError as exc:
        raise rejection(conn, guard, exc) from exc
    scope[CLAIMS_KEY] = claims
    return claims


async def authorize(conn: HTTPConnection, requirement: Requirement) -> CognitoClaims:
    """The connection's claims if they meet ``requirement``; raises the rejection otherwise."""
    guard = guard_of(conn)
    claims = await claims_of(conn, guard)
    if claims is not None and requirement.is_empty:  # any valid token will do: nothing to check
        return claims
    try:
        return guard.authorize(claims, requirement)
    except CognitoGuardError as exc:
        raise rejection(conn, guard, exc) from exc
