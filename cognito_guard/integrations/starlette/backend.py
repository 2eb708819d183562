"""Starlette's own authentication: :class:`CognitoAuthBackend` (``request.user``) and
:func:`requires`, a drop-in for Starlette's decorator with the RFC 6750 answers."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response

from ...bearer import Answer, BearerGuard, Requirement
from ...claims import CognitoClaims
from ...config import verifier_from_env
from ...errors import CognitoGuardError, ConfigurationError
from ...verifier import CognitoVerifier
from .._resource import mark
from .auth import CLAIMS_KEY, authorize, credentials
from .responses import answer_of, answer_response

__all__ = [
    "CognitoAuthBackend",
    "CognitoAuthenticationError",
    "CognitoUser",
    "on_auth_error",
    "requires",
]

# Starlette's convention (AuthCredentials(["authenticated"])); no Cognito scope can be named so,
# as custom scopes always carry a resource server prefix.
_AUTHENTICATED = "authenticated"


class CognitoUser(BaseUser):
    """``request.user`` behind :class:`CognitoAuthBackend`: the token's claims as a Starlette user.

    Example: ``request.user.claims.groups``, ``request.user.identity`` (the ``sub``)
    """

    def __init__(self, claims: CognitoClaims) -> None:
        self.claims = claims

    def __repr__(self) -> str:
        return f"CognitoUser({self.claims!r})"

    @property
    def is_authenticated(self) -> bool:
        """Always True: there is a verified token."""
        return True

    @property
    def display_name(self) -> str:
        """The username, or the ``sub`` of a machine-to-machine token."""
        return self.claims.username or self.claims.sub

    @property
    def identity(self) -> str:
        """The ``sub`` claim."""
        return self.claims.sub


class CognitoAuthenticationError(AuthenticationError):
    """What :class:`CognitoAuthBackend` raises for a rejected request; ``answer`` is the reply."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.description)
        self.answer = answer


class CognitoAuthBackend(AuthenticationBackend):
    """A Starlette ``AuthenticationBackend`` verifying the bearer token with ``averify``.

    A request without a token is anonymous (``UnauthenticatedUser``); a request with a bad token
    is rejected by ``AuthenticationMiddleware``, whose ``on_error`` should be
    :func:`on_auth_error` to send the RFC 6750 answer. ``verifier`` defaults to
    :func:`~cognito_guard.config.verifier_from_env`.

    Example::

        middleware = [Middleware(AuthenticationMiddleware, backend=CognitoAuthBackend(verifier),
                                 on_error=on_auth_error)]
    """

    def __init__(self, verifier: CognitoVerifier | None = None, *, realm: str | None = None):
        self.guard = BearerGuard(
            verifier if verifier is not None else verifier_from_env(), realm=realm
        )

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        """The credentials and user of ``conn``; None without a token."""
        try:
            claims = await self.guard.aauthenticate(credentials(conn))
        except CognitoGuardError as exc:
            raise CognitoAuthenticationError(answer_of(conn, self.guard, exc)) from exc
        conn.scope[CLAIMS_KEY] = claims
        if claims is None:
            return None
        return AuthCredentials([_AUTHENTICATED, *sorted(claims.scopes)]), CognitoUser(claims)


def on_auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """``on_error`` for ``AuthenticationMiddleware``: the RFC 6750 answer of the rejection.

    Example: ``Middleware(AuthenticationMiddleware, backend=..., on_error=on_auth_error)``
    """
    if isinstance(exc, CognitoAuthenticationError):
        return answer_response(exc.answer)
    return PlainTextResponse(str(exc), status_code=400)  # Starlette's own default


def requires(
    scopes: str | Sequence[str] = (), *, groups: str | Sequence[str] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
    """Decorator for Starlette endpoints: like Starlette's ``requires``, with RFC 6750 answers.

    Demands a valid token with every one of ``scopes`` and, if ``groups`` are given, membership
    in one of them: 401 without a token, 403 ``insufficient_scope`` (with ``scope="..."``) when
    they are lacking. ``"authenticated"`` in ``scopes`` means just a valid token, as with
    Starlette. The endpoint needs a ``request`` or ``websocket`` parameter; a rejected WebSocket
    handshake is closed with 1008. Needs :class:`CognitoGuard` on the application.

    Example::

        @requires("orders/read")
        async def orders(request: Request) -> JSONResponse:
            return JSONResponse({"user": request.user.identity})
    """
    if callable(scopes):
        raise ConfigurationError(
            "@requires must be called with the scopes it demands: @requires('orders/read'), or "
            "@requires('authenticated') for any valid token; not @requires"
        )
    wanted = (scopes,) if isinstance(scopes, str) else tuple(scopes)
    requirement = Requirement.of(
        scopes=[s for s in wanted if s != _AUTHENTICATED],
        groups=(groups,) if isinstance(groups, str) else tuple(groups),
    )

    def decorator(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        if isinstance(func, type):
            raise ConfigurationError(
                f"@requires decorates endpoint functions, not the class {func.__name__}: "
                "decorate its get/post/... methods"
            )
        names = list(inspect.signature(func).parameters)
        name = next((n for n in names if n in ("request", "websocket")), None)
        if name is None:
            raise TypeError(f'no "request" or "websocket" parameter on {func!r}')
        index = names.index(name)
        is_async = inspect.iscoroutinefunction(func)

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            conn = kwargs[name] if name in kwargs else args[index]
            await authorize(conn, requirement)
            if is_async:
                return await func(*args, **kwargs)
            return await run_in_threadpool(func, *args, **kwargs)

        return mark(wrapper, requirement)  # marked: the scopes of the metadata document

    return decorator
