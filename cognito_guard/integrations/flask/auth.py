"""Flask integration: protect views with Cognito bearer tokens.

Example::

    from flask import Flask
    from cognito_guard.integrations.flask import (
        CognitoGuard, current_cognito_user, require_auth, require_group, require_scope,
    )

    app = Flask(__name__)
    app.config.update(COGNITO_USER_POOL_ID="eu-west-1_AbCdEf123", COGNITO_CLIENT_ID="4a1b...")
    CognitoGuard(app)            # or: guard = CognitoGuard(); guard.init_app(app)

    @app.get("/orders")
    @require_scope("orders/read")
    def orders():
        return {"user": current_cognito_user.sub}

Configuration is read once, in :meth:`CognitoGuard.init_app`: from ``app.config``
(``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``, ``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``
and the other names of :mod:`cognito_guard.config`) when it holds any ``COGNITO_*`` setting,
otherwise from the same names in the environment. Bad or missing settings raise
:class:`~cognito_guard.ConfigurationError` there, at start-up, and so does a ``COGNITO_*`` name
close to one of ours (``COGNITO_SCOPE``: "did you mean 'COGNITO_SCOPES'?").

A decorator written above ``@app.route`` would leave the route serving the unprotected function:
it is refused at decoration (when the app is set up already), in ``init_app``, or at the first
request, which is then refused with every later one.

Authentication happens on demand, not in a ``before_request`` hook: the decorators verify the
token of the request (once; the outcome is kept on :data:`flask.g`), so unprotected views pay
nothing and a bad token sent to an unprotected view is not an error there. Reading
:data:`current_cognito_user` authenticates lazily too. Async views verify with
:meth:`~cognito_guard.CognitoVerifier.averify`, so they never block their event loop.

Rejections are raised as :class:`werkzeug.exceptions.HTTPException` subclasses
(:class:`CognitoUnauthorized`, :class:`CognitoForbidden`, :class:`CognitoBadRequest`,
:class:`CognitoUnavailable`) whose response is the shared RFC 6750 answer: the status, the
``WWW-Authenticate`` / ``Retry-After`` headers and a ``{"error", "error_description"}`` JSON body.
An application's ``@app.errorhandler(401)`` receives them and may reshape the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast, overload

from flask import Flask, current_app, g, request
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
    Unauthorized,
)
from werkzeug.local import LocalProxy

from ..bearer import Answer, BearerGuard, Requirement
from ..claims import CognitoClaims
from ..config import SETTING_NAMES, check_setting_names, verifier_from_env, verifier_from_settings
from ..errors import CognitoGuardError, ConfigurationError, MissingTokenError
from ..sessions.signin import SessionGuard, WebSignIn
from ..verifier import CognitoVerifier

if TYPE_CHECKING:
    from flask import Request

__all__ = [
    "CognitoBadRequest",
    "CognitoForbidden",
    "CognitoGuard",
    "CognitoHTTPException",
    "CognitoServerError",
    "CognitoUnauthorized",
    "CognitoUnavailable",
    "CognitoUsageError",
    "aget_cognito_user",
    "current_cognito_user",
    "get_cognito_user",
    "require_auth",
    "require_group",
    "require_scope",
]

EXTENSION_KEY = "cognito_guard"
_G_KEY = "_cognito_guard_outcome"
_DEMANDS = ("COGNITO_SCOPES", "COGNITO_GROUPS")

log = logging.getLogger("cognito_guard")

# The functions the require_* decorators wrapped. One of them registered as a view itself means
# the decorator was written above @app.route: the route would serve the unprotected function.
_GUARDED: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
# The apps set up by CognitoGuard, so a decorator can tell at once that it wraps a registered view.
_APPS: weakref.WeakSet[Flask] = weakref.WeakSet()

View = TypeVar("View", bound=Callable[..., Any])


# -- errors -----------------------------------------------------------------------------------


class CognitoUsageError(Exception):
    """The integration was used where it cannot work (a blocking verification in an async view).

    Deliberately not a RuntimeError: werkzeug's LocalProxy turns a RuntimeError raised while
    testing ``if current_cognito_user:`` into False, which would hide the mistake.
    """


class CognitoHTTPException(HTTPException):
    """Base of the werkzeug exceptions this integration raises.

    ``answer`` is the shared :class:`~cognito_guard.bearer.Answer` and ``error`` the
    :class:`~cognito_guard.CognitoGuardError` behind it. The response is the JSON answer with its
    headers; an error handler can build its own from them::

        @app.errorhandler(401)
        def unauthorized(exc):
            if isinstance(exc, CognitoHTTPException):
                return {"message": exc.answer.description}, 401, exc.answer.headers
            return exc
    """

    def __init__(self, answer: Answer, error: CognitoGuardError) -> None:
        super().__init__(description=answer.description)
        self.answer = answer
        self.error = error

    def get_headers(
        self,
        environ: Any = None,
        scope: dict[str, Any] | None = None,
    ) -> list[tuple[str, str]]:
        """``Content-Type: application/json`` and the answer's headers."""
        return [("Content-Type", "application/json"), *self.answer.headers]

    def get_body(
        self,
        environ: Any = None,
        scope: dict[str, Any] | None = None,
    ) -> str:
        """The JSON body ``{"error": ..., "error_description": ...}``."""
        return self.answer.json().decode()


class CognitoBadRequest(CognitoHTTPException, BadRequest):
    """400 ``invalid_request``: a malformed ``Authorization`` header."""


class CognitoUnauthorized(CognitoHTTPException, Unauthorized):
    """401: no bearer token on a protected view, or an invalid one (``invalid_token``)."""


class CognitoForbidden(CognitoHTTPException, Forbidden):
    """403 ``insufficient_scope``: a missing scope or group."""


class CognitoUnavailable(CognitoHTTPException, ServiceUnavailable):
    """503 with ``Retry-After``: the signing keys cannot be fetched."""


class CognitoServerError(CognitoHTTPException, InternalServerError):
    """500: an unexpected :class:`~cognito_guard.CognitoGuardError` (never a token's fault)."""


_BY_STATUS: Mapping[int, type[CognitoHTTPException]] = {
    400: CognitoBadRequest,
    401: CognitoUnauthorized,
    403: CognitoForbidden,
    503: CognitoUnavailable,
}


def _http_exception(guard: BearerGuard, error: CognitoGuardError) -> CognitoHTTPException:
    answer = guard.answer(error, method=request.method, path=request.path)
    return _BY_STATUS.get(answer.status, CognitoServerError)(answer, error)


# -- the extension ----------------------------------------------------------------------------


class CognitoGuard:
    """The Flask extension: builds the verifier of an app at start-up.

    Example::

        guard = CognitoGuard(app)                                  # settings from app.config
        guard = CognitoGuard(app, verifier=CognitoVerifier(...))   # or a verifier of your own
        guard = CognitoGuard(); guard.init_app(app)                # application factories

    Args:
        app: the application to set up now; omit it and call :meth:`init_app` later.
        verifier: use this verifier instead of building one from the settings.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenges.
        sign_in: a :class:`~cognito_guard.sessions.WebSignIn`: mounts its routes and lets the
            decorators accept its session cookie as well as bearer tokens.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: CognitoVerifier | None = None,
        realm: str | None = None,
        sign_in: WebSignIn | None = None,
    ) -> None:
        self._verifier = verifier
        self.realm = realm
        self.sign_in = sign_in
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build (or take) the verifier and register it in ``app.extensions["cognito_guard"]``.

        Raises :class:`~cognito_guard.ConfigurationError` when the settings are missing or wrong
        (a misspelt ``COGNITO_*`` name included), when the app was set up already, or when a view
        is registered undecorated although a ``require_*`` decorator wrapped it (the decorator
        was written above ``@app.route``). Views registered later are checked at the first
        request, which is refused while one of them is in that state.
        """
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError(
                "CognitoGuard is already set up on this app: call CognitoGuard(app) or "
                "init_app(app) once (a second call would silently replace the first verifier)"
            )
        check_setting_names(app.config, prefix="COGNITO_", source="app.config")
        if self._verifier is not None:
            ignored = [n for n in _DEMANDS if app.config.get(n) not in (None, "", (), [])]
            if ignored:
                # They would silently not apply: the routes would demand less than written.
                raise ConfigurationError(
                    f"app.config sets {ignored}, which CognitoGuard(verifier=...) does not apply "
                    "to the verifier given: pass scopes=/groups= to that CognitoVerifier, or "
                    "drop verifier= to build it from app.config"
                )
        verifier = self._verifier if self._verifier is not None else self._from_settings(app)
        guard: BearerGuard
        # -- web sign-in (issue 11): routes under /auth and cookie authentication --------------
        if self.sign_in is not None:
            from .flask_sessions import install

            guard = install(app, verifier, self.sign_in, self.realm)
        # -- end of web sign-in -------------------------------------------------------------
        else:
            guard = BearerGuard(verifier, realm=self.realm)
        _check_views(app)
        app.extensions[EXTENSION_KEY] = guard
        _APPS.add(app)
        checked: list[bool] = []

        def check_views_once() -> None:
            # Routes cannot be added after the first request (Flask refuses), so one scan that
            # passed covers the app for good; one that failed refuses every request.
            if not checked:
                _check_views(app)
                checked.append(True)

        app.before_request(check_views_once)

    @staticmethod
    def _from_settings(app: Flask) -> CognitoVerifier:
        # Half a configuration in app.config must fail loudly, not be replaced by the environment.
        if any(app.config.get("COGNITO_" + name) not in (None, "") for name in SETTING_NAMES):
            return verifier_from_settings(app.config, prefix="COGNITO_", source="app.config")
        return verifier_from_env()

    @staticmethod
    def verifier(app: Flask | None = None) -> CognitoVerifier:
        """The verifier of ``app`` (default: the current app)."""
        return _bearer_guard(app).verifier


def _check_views(app: Flask) -> None:
    wrong = sorted(endpoint for endpoint, view in app.view_functions.items() if _was_guarded(view))
    if wrong:
        message = (
            f"view(s) {wrong} are registered unprotected: a require_* decorator was written "
            "above @app.route (or @bp.route), so the route serves the undecorated function. "
            "Put @app.route(...) first (outermost) and the require_* decorator below it"
        )
        log.error("%s", message)
        raise ConfigurationError(message)


def _was_guarded(view: Callable[..., Any]) -> bool:
    try:
        return view in _GUARDED
    except TypeError:  # not weak-referenceable, so never added
        return False


# The objects behind the proxies, fetched without the proxies' attribute lookup (~6 times the
# cost) and without a typing.cast() call per request: these run on every request.
_current_app_object: Callable[[], Flask] = cast(
    "LocalProxy[Flask]", current_app
)._get_current_object
_g_object: Callable[[], Any] = cast("LocalProxy[Any]", g)._get_current_object
_request_object: Callable[[], Request] = cast("LocalProxy[Request]", request)._get_current_object


def _bearer_guard(app: Flask | None = None) -> BearerGuard:
    guard = (app if app is not None else _current_app_object()).extensions.get(EXTENSION_KEY)
    if not isinstance(guard, BearerGuard):
        raise ConfigurationError("call CognitoGuard(app) or init_app(app) first")
    return guard


# -- per-request authentication ---------------------------------------------------------------


def _authorization() -> list[str]:
    # WSGI servers join repeated headers with ", ", which parse_authorization refuses; reading the
    # environ key directly avoids werkzeug's scan of every header for getlist().
    value = _request_object().environ.get("HTTP_AUTHORIZATION")
    return [] if value is None else [value]


# -- web sign-in (issue 11): without an Authorization header, the session cookie -------------


def _authenticate(guard: BearerGuard) -> CognitoClaims | None:
    authorization = _authorization()
    if not authorization and isinstance(guard, SessionGuard):
        from .flask_sessions import authenticate

        return authenticate(guard.sign_in)
    return guard.authenticate(authorization)


async def _aauthenticate(guard: BearerGuard) -> CognitoClaims | None:
    authorization = _authorization()
    if not authorization and isinstance(guard, SessionGuard):
        from .flask_sessions import aauthenticate

        return await aauthenticate(guard.sign_in)
    return await guard.aauthenticate(authorization)


# -- end of web sign-in ------------------------------------------------------------------------


def _rejected(guard: BearerGuard, error: CognitoGuardError, outcomes: dict[str, Any]) -> NoReturn:
    # Kept on g like a success, so the rejection is answered (and logged) once however often the
    # request asks for its user.
    rejection = _http_exception(guard, error)
    outcomes[_G_KEY] = (None, rejection)
    raise rejection


def _cached_outcome(
    outcome: tuple[CognitoClaims | None, CognitoHTTPException | None],
) -> CognitoClaims | None:
    claims, rejection = outcome
    if rejection is not None:
        raise rejection
    return claims


def get_cognito_user() -> CognitoClaims | None:
    """The verified claims of the current request; None when it carries no bearer token.

    Raises a :class:`CognitoHTTPException` when the token is bad or the keys cannot be had.
    It verifies synchronously, so in an async view whose token no decorator verified yet it
    raises :class:`CognitoUsageError`: call ``await aget_cognito_user()`` there instead.

    Example: ``user = get_cognito_user(); name = user.username if user else "anonymous"``
    """
    guard = _bearer_guard()
    # The outcome is kept in g's own dict (so the decorators and current_cognito_user verify one
    # request's token once): getattr() of a name g lacks raises and catches an AttributeError.
    outcomes = _g_object().__dict__
    outcome = outcomes.get(_G_KEY)
    if outcome is not None:
        return _cached_outcome(outcome)
    if _in_event_loop():
        raise CognitoUsageError(
            "in an async view use 'await aget_cognito_user()' or a require_* decorator before"
            " reading current_cognito_user; verifying here could block the loop"
        )
    try:
        claims = _authenticate(guard)
    except CognitoGuardError as exc:
        _rejected(guard, exc, outcomes)
    outcomes[_G_KEY] = (claims, None)
    return claims


def _in_event_loop() -> bool:
    # asyncio's own test without the RuntimeError that get_running_loop() raises (and costs)
    # on every request of a sync view.
    return asyncio._get_running_loop() is not None


async def aget_cognito_user() -> CognitoClaims | None:
    """Like :func:`get_cognito_user`, for async views: never blocks the event loop.

    Example: ``user = await aget_cognito_user()``
    """
    guard = _bearer_guard()
    outcomes = _g_object().__dict__
    outcome = outcomes.get(_G_KEY)
    if outcome is not None:
        return _cached_outcome(outcome)
    try:
        claims = await _aauthenticate(guard)
    except CognitoGuardError as exc:
        _rejected(guard, exc, outcomes)
    outcomes[_G_KEY] = (claims, None)
    return claims


class _UserProxy(LocalProxy):  # type: ignore[type-arg]
    """``current_cognito_user``: reading an attribute of no user is a 401, not an AttributeError.

    A view without a guard decorator that reads ``current_cognito_user.sub`` on a request without
    a token would otherwise fail with a 500 (``'NoneType' object has no attribute 'sub'``); the
    request needed a user and brought none, which is the client's 401 (and a log line naming the
    fix for the developer).
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        user = object.__getattribute__(self, "_get_current_object")()
        if user is None:
            raise _http_exception(
                _bearer_guard(),
                MissingTokenError(
                    f"the view read current_cognito_user.{name} but the request has no bearer "
                    "token; protect the view with @require_auth (below @app.route), or test "
                    "'if current_cognito_user:' first"
                ),
            )
        return getattr(user, name)


current_cognito_user: CognitoClaims = cast(CognitoClaims, _UserProxy(get_cognito_user))
"""The current request's :class:`~cognito_guard.CognitoClaims`, or None without a token.

A proxy: test it with ``if current_cognito_user:`` (``current_cognito_user is None`` compares the
proxy itself and is always false); outside a request it is falsy. Reading it authenticates the
request if no decorator did, and raises like :func:`get_cognito_user`. Reading an attribute of
it on a request without a token (``current_cognito_user.sub`` in a view no decorator protects)
answers 401, like a protected view.
"""


def _authorize(requirement: Requirement, claims: CognitoClaims | None) -> None:
    try:
        BearerGuard.authorize(claims, requirement)
    except CognitoGuardError as exc:
        raise _http_exception(_bearer_guard(), exc) from None


def _protect(requirement: Requirement, decorator: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        if isinstance(view, type):
            raise ConfigurationError(
                f"@{decorator} decorates view functions, not the class {view.__name__}: list it "
                f"in the class's decorators = [...] (MethodView/View) or wrap "
                f"{view.__name__}.as_view(...)"
            )
        if not callable(view):
            raise ConfigurationError(f"@{decorator} decorates a view function, not {view!r}")
        for app in list(_APPS):
            if any(view is registered for registered in app.view_functions.values()):
                raise ConfigurationError(
                    f"@{decorator} wraps {getattr(view, '__name__', view)!r}, which is already "
                    "registered as a view, so the route would stay unprotected: put "
                    "@app.route(...) first (outermost) and the decorator below it"
                )
        # A callable object without weak references cannot be remembered: the order check
        # cannot see it (functions, the usual views, all can be).
        with contextlib.suppress(TypeError):
            _GUARDED.add(view)
        demands = not requirement.is_empty  # else any verified token will do
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                claims = await aget_cognito_user()
                if claims is None or demands:
                    _authorize(requirement, claims)
                return await view(*args, **kwargs)

            return cast(View, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            claims = get_cognito_user()
            if claims is None or demands:
                _authorize(requirement, claims)
            return view(*args, **kwargs)

        return cast(View, wrapper)

    return decorate


@overload
def require_auth(view: View) -> View: ...
@overload
def require_auth(view: None = None) -> Callable[[View], View]: ...
def require_auth(view: View | None = None) -> View | Callable[[View], View]:
    """Require a valid bearer token (any scope, any group). Works on sync and async views.

    Example::

        @app.get("/me")
        @require_auth
        def me():
            return {"sub": current_cognito_user.sub}
    """
    decorate: Callable[[View], View] = _protect(Requirement(), "require_auth")
    return decorate if view is None else decorate(view)


def require_scope(*scopes: str) -> Callable[[View], View]:
    """Require a valid token with all of ``scopes``; 403 ``insufficient_scope`` otherwise.

    Example::

        @app.post("/orders")
        @require_scope("orders/write")
        def create_order(): ...
    """
    return _protect(Requirement.decorator_args("require_scope", scopes=scopes), "require_scope")


def require_group(*groups: str) -> Callable[[View], View]:
    """Require a valid token of a user in at least one of ``groups``; 403 otherwise.

    Example::

        @app.get("/admin")
        @require_group("admins")
        def admin(): ...
    """
    return _protect(Requirement.decorator_args("require_group", groups=groups), "require_group")
