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
  installed they honour ``SecurityScopes`` and carry an HTTP bearer security scheme
  (``CognitoBearer``, bearer format JWT), so the OpenAPI document and ``/docs`` show it. FastAPI
  is imported only when FastAPI inspects a dependency, never by plain Starlette use.
- For plain Starlette, ``CognitoGuard(app, authentication=True)`` also installs Starlette's
  ``AuthenticationMiddleware`` with :class:`CognitoAuthBackend`: ``request.user`` is a
  :class:`CognitoUser`, ``request.auth.scopes`` holds ``"authenticated"`` and the token's scopes,
  and Starlette's own ``@requires("orders/read")`` admits by them. Starlette's decorator answers a
  bare 403 without a challenge, though; this module's :func:`requires` is a drop-in that gives
  the RFC 6750 answers (401 without a token, 403 ``insufficient_scope`` with ``scope="..."``).

Every token is verified with ``averify``: nothing blocks the event loop. One request is verified
at most once, however many dependencies it goes through.

WebSocket routes: the same dependencies (and :func:`requires`) work on them, reading the
``Authorization`` header of the handshake. A rejected handshake is closed before it is accepted
with code 1008 (policy violation), or 1013 (try again later) when the signing keys cannot be had;
ASGI servers such as uvicorn turn a close before accept into an HTTP 403 response. Behind
:class:`CognitoAuthBackend`, a handshake with a bad token is closed by Starlette's
``AuthenticationMiddleware`` itself, with code 1000.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException, WebSocketException
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.status import WS_1008_POLICY_VIOLATION, WS_1013_TRY_AGAIN_LATER

from ..bearer import Answer, BearerGuard, Requirement
from ..claims import CognitoClaims
from ..config import verifier_from_env
from ..errors import CognitoGuardError
from ..sessions.signin import SessionGuard, WebSignIn
from ..verifier import CognitoVerifier

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "SCHEME_NAME",
    "CognitoAuthBackend",
    "CognitoAuthenticationError",
    "CognitoGuard",
    "CognitoHTTPException",
    "CognitoUser",
    "answer_response",
    "cognito_exception_handler",
    "cognito_user",
    "cognito_user_optional",
    "guard_of",
    "on_auth_error",
    "require_group",
    "require_scope",
    "requires",
]

SCHEME_NAME = "CognitoBearer"
"""The name of the bearer security scheme in the OpenAPI document."""

_STATE_ATTR = "cognito_guard"
# The verified claims (or None: no token) of one connection, so that several dependencies and the
# authentication backend verify a request only once.
_CLAIMS_KEY = "cognito_guard.starlette.claims"
# Starlette's convention (AuthCredentials(["authenticated"])); no Cognito scope can be named so,
# as custom scopes always carry a resource server prefix.
_AUTHENTICATED = "authenticated"

# -- answers ---------------------------------------------------------------------------------


class CognitoHTTPException(HTTPException):
    """A rejected request: an ``HTTPException`` carrying the :class:`Answer` to send.

    ``status_code``, ``headers`` and ``detail`` come from the answer, so even a generic
    ``HTTPException`` handler sends the right status and challenge. ``error`` is the rejection.

    Example (reshape every rejection)::

        @app.exception_handler(CognitoHTTPException)
        async def problem(request, exc):
            return JSONResponse({"title": exc.answer.description}, exc.status_code,
                                dict(exc.answer.headers))
    """

    def __init__(self, answer: Answer, error: CognitoGuardError | None = None) -> None:
        super().__init__(answer.status, answer.description, dict(answer.headers))
        self.answer = answer
        self.error = error


def answer_response(answer: Answer) -> Response:
    """A Starlette response for an :class:`Answer`: its status, headers and JSON body.

    Example: ``return answer_response(guard.answer(exc))``
    """
    return Response(
        answer.json(),
        status_code=answer.status,
        headers=dict(answer.headers),
        media_type="application/json",
    )


async def cognito_exception_handler(request: Request, exc: Exception) -> Response:
    """The exception handler :class:`CognitoGuard` registers for :class:`CognitoHTTPException`.

    Example: ``app.add_exception_handler(CognitoHTTPException, cognito_exception_handler)``
    """
    if not isinstance(exc, CognitoHTTPException):
        raise exc
    return answer_response(exc.answer)


def _rejection(conn: HTTPConnection, guard: BearerGuard, exc: CognitoGuardError) -> Exception:
    answer = guard.answer(exc)
    if conn.scope["type"] == "websocket":
        code = WS_1013_TRY_AGAIN_LATER if answer.status == 503 else WS_1008_POLICY_VIOLATION
        return WebSocketException(code, reason=answer.error)
    return CognitoHTTPException(answer, exc)


# -- the guard on the application ------------------------------------------------------------


class CognitoGuard:
    """Protects a Starlette or FastAPI application with Amazon Cognito tokens.

    Stores the :class:`~cognito_guard.bearer.BearerGuard` on ``app.state`` for the dependencies
    and registers :func:`cognito_exception_handler`. ``verifier`` defaults to
    :func:`~cognito_guard.config.verifier_from_env`, so configuration errors surface here, at
    start-up. ``authentication=True`` also installs ``AuthenticationMiddleware`` with
    :class:`CognitoAuthBackend` (``request.user``, Starlette's ``@requires``). ``sign_in=`` (a
    :class:`~cognito_guard.sessions.WebSignIn`) mounts its routes and lets the dependencies and
    :func:`requires` accept its session cookie as well as bearer tokens.

    Example::

        app = Starlette(routes=routes)
        CognitoGuard(app, verifier=CognitoVerifier(user_pool_id=..., client_id=...),
                     authentication=True)
    """

    def __init__(
        self,
        app: Starlette,
        verifier: CognitoVerifier | None = None,
        *,
        realm: str | None = None,
        authentication: bool = False,
        sign_in: WebSignIn | None = None,
    ) -> None:
        self.verifier = verifier if verifier is not None else verifier_from_env()
        self.guard = BearerGuard(self.verifier, realm=realm)
        # -- web sign-in (issue 11): routes under /auth and cookie authentication --------------
        if sign_in is not None:
            from .starlette_sessions import install

            self.guard = install(app, self.verifier, sign_in, realm)
        # -- end of web sign-in -------------------------------------------------------------
        app.state.cognito_guard = self.guard
        app.add_exception_handler(CognitoHTTPException, cognito_exception_handler)
        if authentication:
            backend = CognitoAuthBackend(self.verifier, realm=realm)
            backend.guard = self.guard  # web sign-in (issue 11): the same guard, cookie included
            app.add_middleware(
                AuthenticationMiddleware,
                backend=backend,
                on_error=on_auth_error,
            )


def guard_of(conn: HTTPConnection) -> BearerGuard:
    """The :class:`~cognito_guard.bearer.BearerGuard` that :class:`CognitoGuard` put on the app.

    Raises RuntimeError when the application was not set up with :class:`CognitoGuard`.

    Example: ``answer = guard_of(request).answer(exc)``
    """
    state = getattr(conn.scope.get("app"), "state", None)
    guard = getattr(state, _STATE_ATTR, None)
    if not isinstance(guard, BearerGuard):
        raise RuntimeError(
            "cognito_guard: this application has no CognitoGuard; call CognitoGuard(app, ...) "
            "where the application is created"
        )
    return guard


async def _claims_of(conn: HTTPConnection, guard: BearerGuard) -> CognitoClaims | None:
    if _CLAIMS_KEY in conn.scope:
        claims: CognitoClaims | None = conn.scope[_CLAIMS_KEY]
        return claims
    try:
        claims = await _aauthenticate(conn, guard)
    except CognitoGuardError as exc:
        raise _rejection(conn, guard, exc) from exc
    conn.scope[_CLAIMS_KEY] = claims
    return claims


# -- web sign-in (issue 11): without an Authorization header, the session cookie -------------


async def _aauthenticate(conn: HTTPConnection, guard: BearerGuard) -> CognitoClaims | None:
    authorization = conn.headers.getlist("authorization")
    if not authorization and isinstance(guard, SessionGuard):
        from .starlette_sessions import aauthenticate

        return await aauthenticate(conn, guard.sign_in)
    return await guard.aauthenticate(authorization)


# -- end of web sign-in ------------------------------------------------------------------------


async def _authorize(conn: HTTPConnection, requirement: Requirement) -> CognitoClaims:
    guard = guard_of(conn)
    claims = await _claims_of(conn, guard)
    try:
        return guard.authorize(claims, requirement)
    except CognitoGuardError as exc:
        raise _rejection(conn, guard, exc) from exc


# -- dependencies ----------------------------------------------------------------------------


class _SecurityScopes(Protocol):
    @property
    def scopes(self) -> Sequence[str]: ...


_KIND = inspect.Parameter.POSITIONAL_OR_KEYWORD
# What Starlette code and inspect see without FastAPI.
_PLAIN_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter("request", _KIND, annotation=HTTPConnection),
        inspect.Parameter("security_scopes", _KIND, default=None),
        inspect.Parameter("bearer", _KIND, default=None),
    ]
)


@functools.cache
def _fastapi_signature() -> inspect.Signature | None:
    """The signature FastAPI should see, or None when FastAPI is not installed."""
    try:
        from fastapi import Depends
        from fastapi.security import HTTPBearer, SecurityScopes
    except ImportError:
        return None

    class CognitoBearer(HTTPBearer):
        # Only here to document the scheme (OpenAPI, the Authorize button of /docs): the header
        # is read by parse_authorization alone, and HTTPConnection lets WebSocket routes use it.
        # (FastAPI resolves these annotations in this module's globals: keep them module-level.)
        async def __call__(self, request: HTTPConnection) -> None:
            return None

    scheme = CognitoBearer(
        bearerFormat="JWT",
        scheme_name=SCHEME_NAME,
        description="An Amazon Cognito access token: `Authorization: Bearer <token>`.",
        auto_error=False,
    )
    return inspect.Signature(
        [
            inspect.Parameter("request", _KIND, annotation=HTTPConnection),
            inspect.Parameter("security_scopes", _KIND, annotation=SecurityScopes),
            inspect.Parameter("bearer", _KIND, default=Depends(scheme)),
        ]
    )


class _Dependency:
    def __init__(self, requirement: Requirement, name: str) -> None:
        self.requirement = requirement
        self._name = name

    def __repr__(self) -> str:
        return self._name

    @property
    def __signature__(self) -> inspect.Signature:
        # FastAPI reads the parameters from here; resolving them imports FastAPI, so this
        # only runs when FastAPI (or someone) inspects the dependency.
        return _fastapi_signature() or _PLAIN_SIGNATURE

    def _requirement(self, security_scopes: _SecurityScopes | None) -> Requirement:
        extra = [] if security_scopes is None else list(security_scopes.scopes)
        scopes = self.requirement.scopes
        if not extra:
            return self.requirement
        return Requirement(
            scopes + tuple(s for s in dict.fromkeys(extra) if s not in scopes),
            self.requirement.groups,
        )


class _Required(_Dependency):
    async def __call__(
        self,
        request: HTTPConnection,
        security_scopes: _SecurityScopes | None = None,
        bearer: object = None,
    ) -> CognitoClaims:
        return await _authorize(request, self._requirement(security_scopes))


class _Optional(_Dependency):
    async def __call__(
        self,
        request: HTTPConnection,
        security_scopes: _SecurityScopes | None = None,
        bearer: object = None,
    ) -> CognitoClaims | None:
        if await _claims_of(request, guard_of(request)) is None:
            return None
        return await _authorize(request, self._requirement(security_scopes))


cognito_user = _Required(Requirement(), "cognito_user")
"""Dependency: the verified claims; 401 without a token, 401 ``invalid_token`` for a bad one.

Honours FastAPI's ``SecurityScopes``: ``Security(cognito_user, scopes=["orders/write"])``
also demands those scopes (403 ``insufficient_scope``). Works on WebSocket routes too.

Example::

    @app.get("/me")
    async def me(user: CognitoClaims = Depends(cognito_user)):
        return {"sub": user.sub}

    # plain Starlette: claims = await cognito_user(request)
"""

cognito_user_optional = _Optional(Requirement(), "cognito_user_optional")
"""Dependency: the verified claims, or None when the request carries no token.

A token that is present must still be valid (401 ``invalid_token``) and a malformed
``Authorization`` header is still a 400: only the absence of credentials is accepted.

Example::

    @app.get("/catalogue")
    async def catalogue(user: CognitoClaims | None = Depends(cognito_user_optional)):
        return {"personalised": user is not None}
"""


def require_scope(*scopes: str) -> Callable[..., Awaitable[CognitoClaims]]:
    """Dependency demanding every one of ``scopes`` (403 ``insufficient_scope`` otherwise).

    Returns the claims, and honours ``SecurityScopes`` like :data:`cognito_user`.

    Example::

        @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
        async def orders(): ...
    """
    requirement = Requirement.decorator_args("require_scope", scopes=scopes)
    return _Required(requirement, f"require_scope{scopes!r}")


def require_group(*groups: str) -> Callable[..., Awaitable[CognitoClaims]]:
    """Dependency demanding that the user is in one of ``groups`` (403 otherwise).

    Example::

        @app.get("/admin", dependencies=[Depends(require_group("admins"))])
        async def admin(): ...
    """
    requirement = Requirement.decorator_args("require_group", groups=groups)
    return _Required(requirement, f"require_group{groups!r}")


# -- Starlette authentication ----------------------------------------------------------------


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
            claims = await _aauthenticate(conn, self.guard)
        except CognitoGuardError as exc:
            raise CognitoAuthenticationError(self.guard.answer(exc)) from exc
        conn.scope[_CLAIMS_KEY] = claims
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
    wanted = (scopes,) if isinstance(scopes, str) else tuple(scopes)
    requirement = Requirement.of(
        scopes=[s for s in wanted if s != _AUTHENTICATED],
        groups=(groups,) if isinstance(groups, str) else tuple(groups),
    )

    def decorator(func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        names = list(inspect.signature(func).parameters)
        name = next((n for n in names if n in ("request", "websocket")), None)
        if name is None:
            raise TypeError(f'no "request" or "websocket" parameter on {func!r}')
        index = names.index(name)
        is_async = inspect.iscoroutinefunction(func)

        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            conn = kwargs[name] if name in kwargs else args[index]
            await _authorize(conn, requirement)
            if is_async:
                return await func(*args, **kwargs)
            return await run_in_threadpool(func, *args, **kwargs)

        return wrapper

    return decorator
