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
:class:`~cognito_guard.ConfigurationError` there, at start-up.

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
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast, overload

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
from ..config import SETTING_NAMES, verifier_from_env, verifier_from_settings
from ..errors import CognitoGuardError, ConfigurationError
from ..sessions.signin import SessionGuard, WebSignIn
from ..verifier import CognitoVerifier

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
    answer = guard.answer(error)
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

        Raises :class:`~cognito_guard.ConfigurationError` when the settings are missing or wrong.
        """
        verifier = self._verifier if self._verifier is not None else self._from_settings(app)
        # -- web sign-in (issue 11): routes under /auth and cookie authentication --------------
        if self.sign_in is not None:
            from .flask_sessions import install

            app.extensions[EXTENSION_KEY] = install(app, verifier, self.sign_in, self.realm)
            return
        # -- end of web sign-in -------------------------------------------------------------
        app.extensions[EXTENSION_KEY] = BearerGuard(verifier, realm=self.realm)

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


def _bearer_guard(app: Flask | None = None) -> BearerGuard:
    target = app if app is not None else current_app
    guard = target.extensions.get(EXTENSION_KEY)
    if not isinstance(guard, BearerGuard):
        raise ConfigurationError("cognito_guard: call CognitoGuard(app) or init_app(app) first")
    return guard


# -- per-request authentication ---------------------------------------------------------------


def _authorization() -> list[str]:
    # WSGI servers join repeated headers with ", ", which parse_authorization refuses; reading the
    # environ key directly avoids werkzeug's scan of every header for getlist().
    value = request.environ.get("HTTP_AUTHORIZATION")
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


def _outcome(
    guard: BearerGuard, claims: CognitoClaims | None, error: CognitoGuardError | None
) -> CognitoClaims | None:
    # Kept on g so the decorators and current_cognito_user verify one request's token once.
    setattr(g, _G_KEY, (claims, error))
    if error is not None:
        raise _http_exception(guard, error)
    return claims


def get_cognito_user() -> CognitoClaims | None:
    """The verified claims of the current request; None when it carries no bearer token.

    Raises a :class:`CognitoHTTPException` when the token is bad or the keys cannot be had.
    It verifies synchronously, so in an async view whose token no decorator verified yet it
    raises :class:`CognitoUsageError`: call ``await aget_cognito_user()`` there instead.

    Example: ``user = get_cognito_user(); name = user.username if user else "anonymous"``
    """
    guard = _bearer_guard()
    cached: tuple[CognitoClaims | None, CognitoGuardError | None] | None = g.get(_G_KEY)
    if cached is not None:
        claims, error = cached
        return _outcome(guard, claims, error)
    if _in_event_loop():
        raise CognitoUsageError(
            "cognito_guard: in an async view use 'await aget_cognito_user()' or a require_*"
            " decorator before reading current_cognito_user; verifying here could block the loop"
        )
    try:
        return _outcome(guard, _authenticate(guard), None)
    except CognitoGuardError as exc:
        return _outcome(guard, None, exc)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def aget_cognito_user() -> CognitoClaims | None:
    """Like :func:`get_cognito_user`, for async views: never blocks the event loop.

    Example: ``user = await aget_cognito_user()``
    """
    guard = _bearer_guard()
    cached: tuple[CognitoClaims | None, CognitoGuardError | None] | None = g.get(_G_KEY)
    if cached is not None:
        claims, error = cached
        return _outcome(guard, claims, error)
    try:
        return _outcome(guard, await _aauthenticate(guard), None)
    except CognitoGuardError as exc:
        return _outcome(guard, None, exc)


current_cognito_user: CognitoClaims = cast(CognitoClaims, LocalProxy(get_cognito_user))
"""The current request's :class:`~cognito_guard.CognitoClaims`, or None without a token.

A proxy: test it with ``if current_cognito_user:`` (``current_cognito_user is None`` compares the
proxy itself and is always false); outside a request it is falsy. Reading it authenticates the
request if no decorator did, and raises like :func:`get_cognito_user`.
"""


def _authorize(requirement: Requirement, claims: CognitoClaims | None) -> None:
    try:
        BearerGuard.authorize(claims, requirement)
    except CognitoGuardError as exc:
        raise _http_exception(_bearer_guard(), exc) from None


def _protect(requirement: Requirement) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                _authorize(requirement, await aget_cognito_user())
                return await view(*args, **kwargs)

            return cast(View, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _authorize(requirement, get_cognito_user())
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
    decorate: Callable[[View], View] = _protect(Requirement())
    return decorate if view is None else decorate(view)


def require_scope(*scopes: str) -> Callable[[View], View]:
    """Require a valid token with all of ``scopes``; 403 ``insufficient_scope`` otherwise.

    Example::

        @app.post("/orders")
        @require_scope("orders/write")
        def create_order(): ...
    """
    return _protect(Requirement.decorator_args("require_scope", scopes=scopes))


def require_group(*groups: str) -> Callable[[View], View]:
    """Require a valid token of a user in at least one of ``groups``; 403 otherwise.

    Example::

        @app.get("/admin")
        @require_group("admins")
        def admin(): ...
    """
    return _protect(Requirement.decorator_args("require_group", groups=groups))
