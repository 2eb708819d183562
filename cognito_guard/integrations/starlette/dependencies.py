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
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
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
from ..errors import CognitoGuardError, ConfigurationError
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


def _answer(conn: HTTPConnection, guard: BearerGuard, exc: CognitoGuardError) -> Answer:
    scope = conn.scope
    method = "WEBSOCKET" if scope["type"] == "websocket" else scope.get("method")
    return guard.answer(exc, method=method, path=scope.get("path"))


def _rejection(conn: HTTPConnection, guard: BearerGuard, exc: CognitoGuardError) -> Exception:
    answer = _answer(conn, guard, exc)
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
        if isinstance(getattr(app.state, _STATE_ATTR, None), BearerGuard):
            raise ConfigurationError(
                "CognitoGuard is already set up on this application: call CognitoGuard(app) "
                "once (a second call would replace the first verifier)"
            )
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
        _check_routes_when_built(app)
        if callable(getattr(app, "openapi", None)) and hasattr(app, "openapi_schema"):
            _document_in_openapi(app)


def guard_of(conn: HTTPConnection) -> BearerGuard:
    """The :class:`~cognito_guard.bearer.BearerGuard` that :class:`CognitoGuard` put on the app.

    Raises RuntimeError when the application was not set up with :class:`CognitoGuard`.

    Example: ``answer = guard_of(request).answer(exc)``
    """
    state = getattr(conn.scope.get("app"), "state", None)
    # State keeps its attributes in the dict _state; reading it there skips State.__getattr__
    # (a Python call) on every request. getattr() stays the way for any other state object.
    values = getattr(state, "_state", None)
    guard = values.get(_STATE_ATTR) if type(values) is dict else getattr(state, _STATE_ATTR, None)
    if not isinstance(guard, BearerGuard):
        raise RuntimeError(
            "this application has no CognitoGuard, so cognito_guard refuses the request; call "
            "CognitoGuard(app, ...) where the application is created"
        )
    return guard


def _authorization(scope: Any) -> list[str]:
    # What conn.headers.getlist("authorization") gives (ASGI servers send header names in lower
    # case), read from the raw ASGI headers without building a Headers object per request.
    return [value.decode("latin-1") for name, value in scope["headers"] if name == b"authorization"]


async def _claims_of(conn: HTTPConnection, guard: BearerGuard) -> CognitoClaims | None:
    """Read the request's ``Authorization`` header and authenticate it, once per connection."""
    scope = conn.scope
    if _CLAIMS_KEY in scope:
        claims: CognitoClaims | None = scope[_CLAIMS_KEY]
        return claims
    try:
        claims = await _aauthenticate(conn, guard)
    except CognitoGuardError as exc:
        raise _rejection(conn, guard, exc) from exc
    scope[_CLAIMS_KEY] = claims
    return claims


# -- web sign-in (issue 11): without an Authorization header, the session cookie -------------


async def _aauthenticate(conn: HTTPConnection, guard: BearerGuard) -> CognitoClaims | None:
    authorization = _authorization(conn.scope)
    if not authorization and isinstance(guard, SessionGuard):
        from .starlette_sessions import aauthenticate

        return await aauthenticate(conn, guard.sign_in)
    return await guard.aauthenticate(authorization)


# -- end of web sign-in ------------------------------------------------------------------------


async def _authorize(conn: HTTPConnection, requirement: Requirement) -> CognitoClaims:
    guard = guard_of(conn)
    claims = await _claims_of(conn, guard)
    if claims is not None and requirement.is_empty:  # any valid token will do: nothing to check
        return claims
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
def _fastapi_scheme() -> Any:
    """The ``CognitoBearer`` security scheme FastAPI documents, or None without FastAPI."""
    try:
        from fastapi.security import HTTPBearer
    except ImportError:
        return None

    class CognitoBearer(HTTPBearer):
        # Only here to document the scheme (OpenAPI, the Authorize button of /docs): FastAPI
        # never calls it, as the dependency that wraps it reads the header itself (with
        # parse_authorization, which HTTPConnection lets WebSocket routes use too).
        async def __call__(self, request: HTTPConnection) -> None:
            return None

    return CognitoBearer(
        bearerFormat="JWT",
        scheme_name=SCHEME_NAME,
        description="An Amazon Cognito access token: `Authorization: Bearer <token>`.",
        auto_error=False,
    )


@functools.cache
def _fastapi_signature() -> inspect.Signature | None:
    """The signature FastAPI should see, or None when FastAPI is not installed."""
    try:
        from fastapi.security import SecurityScopes
    except ImportError:
        return None
    # No Depends(scheme) sub-dependency: FastAPI solves every dependency with a recursion of its
    # own (parameters, cache key, call), which cost more than the verification of a cached token.
    # The dependency is the scheme instead (see _Dependency.__wrapped__).
    return inspect.Signature(
        [
            inspect.Parameter("request", _KIND, annotation=HTTPConnection),
            inspect.Parameter("security_scopes", _KIND, annotation=SecurityScopes),
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

    @property
    def __wrapped__(self) -> Any:
        # FastAPI unwraps a dependency (inspect.unwrap) to tell a security scheme: so it takes
        # this one for the CognitoBearer scheme itself, documents it (with the Security(...)
        # scopes) in the OpenAPI document, and solves it as one dependency, not two. Its call
        # and parameters stay this object's own (__signature__ stops inspect.signature there).
        scheme = _fastapi_scheme()
        if scheme is None:
            raise AttributeError("__wrapped__")
        return scheme

    def _requirement(self, security_scopes: _SecurityScopes | None) -> Requirement:
        if security_scopes is None or not security_scopes.scopes:
            return self.requirement
        return _with_scopes(self.requirement, tuple(security_scopes.scopes))


@functools.lru_cache(maxsize=256)
def _with_scopes(requirement: Requirement, extra: tuple[str, ...]) -> Requirement:
    # The scopes of Security(..., scopes=[...]) are fixed per route: build (and validate) each
    # combination once. A scope with whitespace is refused here: no token could ever match it.
    scopes = requirement.scopes
    if any(len(scope) == 1 for scope in extra):
        # FastAPI iterates a string given as scopes=: "orders/read" arrives as "o", "r", ...
        # (no Cognito scope is a single character).
        raise ConfigurationError(
            f"Security(..., scopes=...) got a string, split into {list(extra)!r}: pass a list, "
            "scopes=['orders/read']"
        )
    try:
        return Requirement(
            scopes + tuple(s for s in dict.fromkeys(extra) if s not in scopes), requirement.groups
        )
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"Security(..., scopes={list(extra)!r}): {exc}; write scopes=['a', 'b']"
        ) from None


class _Required(_Dependency):
    async def __call__(
        self,
        request: HTTPConnection,
        security_scopes: _SecurityScopes | None = None,
        bearer: object = None,
    ) -> CognitoClaims:
        if security_scopes is None or not security_scopes.scopes:  # _requirement(), inlined
            return await _authorize(request, self.requirement)
        return await _authorize(
            request, _with_scopes(self.requirement, tuple(security_scopes.scopes))
        )


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
            raise CognitoAuthenticationError(_answer(conn, self.guard, exc)) from exc
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
            await _authorize(conn, requirement)
            if is_async:
                return await func(*args, **kwargs)
            return await run_in_threadpool(func, *args, **kwargs)

        return wrapper

    return decorator


# -- start-up checks and the OpenAPI document ----------------------------------------------------


def _dependencies(route: object) -> Iterator[Any]:
    """Every dependency callable of a FastAPI route (its dependant tree), or nothing."""
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        for sub in getattr(dependant, "dependencies", ()):
            yield sub.call
            stack.append(sub)


def _routes(routes: Sequence[Any]) -> Iterator[Any]:
    # Recent FastAPI keeps included routers lazily (their routes merged with the router's
    # dependencies on demand); its own iterator gives the routes as the OpenAPI document sees
    # them. FastAPI is not imported for that: without it loaded there is no FastAPI route.
    fastapi_routing = sys.modules.get("fastapi.routing")
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    for route in iterate(routes) if iterate is not None else routes:
        yield route
        inner = getattr(route, "routes", None)  # Mount, Host, an included sub-application
        if isinstance(inner, Sequence):
            yield from _routes(inner)


def _misused(app: Starlette) -> list[str]:
    factories = {require_scope: "require_scope", require_group: "require_group"}
    found: list[str] = []
    for route in _routes(app.routes):
        where = repr(getattr(route, "path", route))
        calls = list(_dependencies(route))
        for call in calls:
            name = factories.get(call) if callable(call) else None
            if name is not None:
                found.append(
                    f"{where} uses Depends({name}) without calling it: "
                    f"write Depends({name}('orders/read')), the names it demands"
                )
        endpoint = getattr(route, "endpoint", None)
        for call in (endpoint, *calls) if getattr(route, "dependant", None) else ():
            found.extend(f"{where}: {problem}" for problem in _bare_defaults(call))
    return found


def _bare_defaults(call: object) -> list[str]:
    # "user = cognito_user" without Depends(...): FastAPI takes it for a query parameter with a
    # default, and the route is served to anyone.
    if isinstance(call, _Dependency) or not callable(call):
        return []
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        f"parameter {p.name!r} has the default {p.default!r} without Depends(): write "
        f"{p.name} = Depends({p.default!r}), or Annotated[..., Depends({p.default!r})]"
        for p in parameters
        if isinstance(p.default, _Dependency)
    ]


def _check_routes_when_built(app: Starlette) -> None:
    # Starlette builds the middleware stack on the first request (or the lifespan start-up),
    # after every route is declared: check them then, once, at no cost per request. A failed
    # check leaves the stack unbuilt, so every request is refused until the code is fixed.
    build = getattr(app, "build_middleware_stack", None)
    if build is None:  # not a Starlette application: nothing is built lazily to hook
        return

    def build_after_checking() -> Any:
        problems = _misused(app)
        if problems:
            raise ConfigurationError("; ".join(problems))
        return build()

    app.build_middleware_stack = build_after_checking  # type: ignore[method-assign]


_ERROR_SCHEMA = "CognitoError"
_RESPONSES = {
    "400": ("The Authorization header is malformed", "WWW-Authenticate"),
    "401": ("No bearer token, or an invalid one", "WWW-Authenticate"),
    "403": ("The token lacks a required scope or group", "WWW-Authenticate"),
    "503": ("The token signing keys cannot be fetched; try again later", "Retry-After"),
}


def _guarded_operations(app: Any) -> Iterator[tuple[Any, bool, list[str], bool]]:
    """(route, required, scopes, demands_groups) of every route using this module's dependencies."""
    for route in _routes(app.routes):
        deps = [call for call in _dependencies(route) if isinstance(call, _Dependency)]
        if not deps:
            continue
        required = any(isinstance(call, _Required) for call in deps)
        scopes = list(dict.fromkeys(s for call in deps for s in call.requirement.scopes))
        groups = any(call.requirement.groups for call in deps)
        yield route, required, scopes, groups


def _document_in_openapi(app: Any) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema: dict[str, Any] = generate()
        _document(app, schema)
        return schema

    app.openapi = openapi


def _document(app: Any, schema: dict[str, Any]) -> None:
    """Make the document say what the guard does (idempotent: FastAPI may hand back its cache).

    FastAPI lists one security requirement per security dependency, without the scopes of
    ``require_scope(...)`` and without telling an optional token from a required one; this puts
    one ``CognitoBearer`` requirement with every scope demanded, preceded by ``{}`` (no token is
    also accepted) for :data:`cognito_user_optional` alone, and the error answers.
    """
    paths = schema.get("paths", {})
    used = False
    for route, required, scopes, groups in _guarded_operations(app):
        for method in getattr(route, "methods", None) or ():
            operation = paths.get(getattr(route, "path_format", None), {}).get(method.lower())
            if not isinstance(operation, dict):
                continue
            used = True
            security = operation.get("security", [])
            ours = [entry for entry in security if SCHEME_NAME in entry]
            others = [entry for entry in security if entry and SCHEME_NAME not in entry]
            demanded = list(dict.fromkeys([*(s for e in ours for s in e[SCHEME_NAME]), *scopes]))
            operation["security"] = [
                *([] if required else [{}]),
                {SCHEME_NAME: demanded},
                *others,
            ]
            responses = operation.setdefault("responses", {})
            for status, (description, header) in _RESPONSES.items():
                if status == "403" and not (required or demanded or groups):
                    continue  # an optional token with no scope to lack: never a 403
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "headers": {header: {"schema": {"type": "string"}}},
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{_ERROR_SCHEMA}"}
                            }
                        },
                    },
                )
    if used:
        scheme = _fastapi_scheme()
        if scheme is not None:
            # FastAPI lists it itself when it unwraps the dependencies to the scheme; this keeps
            # the requirement above pointing at a defined scheme whatever FastAPI did.
            from fastapi.encoders import jsonable_encoder

            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            if SCHEME_NAME not in schemes:
                schemes[SCHEME_NAME] = jsonable_encoder(
                    scheme.model, by_alias=True, exclude_none=True
                )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            _ERROR_SCHEMA,
            {
                "title": _ERROR_SCHEMA,
                "type": "object",
                "description": "The RFC 6750 error answer of a rejected request.",
                "properties": {
                    "error": {
                        "type": "string",
                        "description": "invalid_request, unauthorized, invalid_token, "
                        "insufficient_scope or temporarily_unavailable",
                    },
                    "error_description": {"type": "string"},
                },
                "required": ["error", "error_description"],
            },
        )
