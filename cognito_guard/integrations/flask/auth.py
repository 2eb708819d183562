"""Per-request authentication in Flask: the require_* decorators and the current user.

Authentication happens on demand, not in a ``before_request`` hook: the decorators verify the
request's credentials once (the outcome is kept on :data:`flask.g`) through the guard's one
:meth:`~cognito_guard.bearer.BearerGuard.authenticate`, so unprotected views pay nothing.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from ...bearer import BearerGuard, Credentials, Requirement
from ...claims import CognitoClaims
from ...errors import CognitoGuardError, CognitoUsageError, ConfigurationError, MissingTokenError
from .._decorators import RouteDecorators
from .._resource import mark
from ._compat import AttributeProxy, g_object, request_object, running_loop
from .responses import CognitoHTTPException, http_exception
from .sessions import web_request
from .setup import _APPS, _GUARDED, bearer_guard

__all__ = [
    "CognitoUsageError",
    "aget_cognito_user",
    "current_cognito_user",
    "get_cognito_user",
    "require_auth",
    "require_group",
    "require_scope",
]

_G_KEY = "_cognito_guard_outcome"

View = TypeVar("View", bound=Callable[..., Any])


# -- errors -----------------------------------------------------------------------------------


# -- per-request authentication ---------------------------------------------------------------


def _rejected(guard: BearerGuard, error: CognitoGuardError, outcomes: dict[str, Any]) -> NoReturn:
    # Kept on g like a success, so the rejection is answered (and logged) once however often the
    # request asks for its user.
    rejection = http_exception(guard, error)
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
    guard = bearer_guard()
    # The outcome is kept in g's own dict (so the decorators and current_cognito_user verify one
    # request's token once): getattr() of a name g lacks raises and catches an AttributeError.
    outcomes = g_object().__dict__
    outcome = outcomes.get(_G_KEY)
    if outcome is not None:
        return _cached_outcome(outcome)
    if running_loop() is not None:
        raise CognitoUsageError(
            "in an async view use 'await aget_cognito_user()' or a require_* decorator before"
            " reading current_cognito_user; verifying here could block the loop"
        )
    # WSGI servers join repeated headers with ", ", which parse_authorization refuses; reading the
    # environ key directly avoids werkzeug's scan of every header for getlist(). The request and
    # web_request let a SessionGuard read the session cookie, converted only if it does.
    current = request_object()
    value = current.environ.get("HTTP_AUTHORIZATION")
    try:
        claims = guard.authenticate(
            Credentials(() if value is None else (value,), current, web_request)
        )
    except CognitoGuardError as exc:
        _rejected(guard, exc, outcomes)
    outcomes[_G_KEY] = (claims, None)
    return claims


async def aget_cognito_user() -> CognitoClaims | None:
    """Like :func:`get_cognito_user`, for async views: never blocks the event loop.

    Example: ``user = await aget_cognito_user()``
    """
    guard = bearer_guard()
    outcomes = g_object().__dict__
    outcome = outcomes.get(_G_KEY)
    if outcome is not None:
        return _cached_outcome(outcome)
    current = request_object()
    value = current.environ.get("HTTP_AUTHORIZATION")  # as in get_cognito_user
    try:
        claims = await guard.aauthenticate(
            Credentials(() if value is None else (value,), current, web_request)
        )
    except CognitoGuardError as exc:
        _rejected(guard, exc, outcomes)
    outcomes[_G_KEY] = (claims, None)
    return claims


class _UserProxy(AttributeProxy):
    """``current_cognito_user``: reading an attribute of no user is a 401, not an AttributeError.

    A view without a guard decorator that reads ``current_cognito_user.sub`` on a request without
    a token would otherwise fail with a 500 (``'NoneType' object has no attribute 'sub'``); the
    request needed a user and brought none, which is the client's 401 (and a log line naming the
    fix for the developer).
    """

    __slots__ = ()

    @staticmethod
    def _no_object(name: str) -> NoReturn:
        raise http_exception(
            bearer_guard(),
            MissingTokenError(
                f"the view read current_cognito_user.{name} but the request has no bearer "
                "token; protect the view with @require_auth (below @app.route), or test "
                "'if current_cognito_user:' first"
            ),
        )


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
        raise http_exception(bearer_guard(), exc) from None


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

            # Marked with its requirement: the scopes of the metadata document.
            return cast(View, mark(async_wrapper, requirement))

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            claims = get_cognito_user()
            if claims is None or demands:
                _authorize(requirement, claims)
            return view(*args, **kwargs)

        return cast(View, mark(wrapper, requirement))

    return decorate


# The same three decorators as Django's, from one definition (integrations/_decorators.py).
require_auth, require_scope, require_group = RouteDecorators(_protect).decorators()
