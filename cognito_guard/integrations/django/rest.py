"""Django REST framework classes: authentication, permissions and an exception handler.

They read what :class:`~cognito_guard.integrations.django.CognitoMiddleware` found, so the
middleware must be installed (it builds the verifier once, at start-up)::

    MIDDLEWARE = [..., "cognito_guard.integrations.django.CognitoMiddleware"]
    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "cognito_guard.integrations.django.rest.CognitoAuthentication",
        ],
        # adds Cache-Control: no-store to the answers below; optional
        "EXCEPTION_HANDLER": "cognito_guard.integrations.django.rest.exception_handler",
    }

    class Orders(APIView):
        permission_classes = [HasScope]
        required_scopes = {"GET": ["orders/read"], "POST": ["orders/write"]}

As DRF's own token authentication does, a malformed header or a rejected token is answered (400,
401 or 503) even on an ``AllowAny`` view; a request without a token is anonymous and the
permission classes decide. :class:`IsCognitoAuthenticated`, :class:`HasScope` and
:class:`InGroup` answer with the RFC 6750 status, challenge and ``{"error", "error_description"}``
body of :meth:`~cognito_guard.bearer.BearerGuard.answer`; DRF's ``IsAuthenticated`` works too and
gets the ``Bearer`` challenge on its 401.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.authentication import BaseAuthentication  # type: ignore[import-untyped]
from rest_framework.exceptions import APIException  # type: ignore[import-untyped]
from rest_framework.permissions import BasePermission  # type: ignore[import-untyped]

from ...bearer import Answer, BearerGuard, Requirement
from ...claims import CognitoClaims
from ...errors import CognitoGuardError, ConfigurationError, MissingTokenError, TokenError
from ...rules import HTTP_METHODS, closest_method
from ._compat import drf_django_request, set_drf_headers
from .middleware import request_state
from .principals import CognitoUser

__all__ = [
    "CognitoAPIException",
    "CognitoAuthentication",
    "HasScope",
    "InGroup",
    "IsCognitoAuthenticated",
    "exception_handler",
]


class CognitoAPIException(APIException):  # type: ignore[misc]
    """A DRF exception carrying a :class:`~cognito_guard.bearer.Answer` (status, challenge, body).

    Example: ``raise CognitoAPIException(guard.answer(exc))``
    """

    def __init__(self, answer: Answer) -> None:
        super().__init__(detail=answer.body)
        self.answer = answer
        self.status_code = answer.status
        headers = dict(answer.headers)
        set_drf_headers(self, headers.get("WWW-Authenticate"), headers.get("Retry-After"))


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Any:
    """DRF's exception handler, plus every header of a :class:`CognitoAPIException`'s answer.

    Example: ``REST_FRAMEWORK = {"EXCEPTION_HANDLER":
    "cognito_guard.integrations.django.rest.exception_handler"}``
    """
    # Imported here: rest_framework.views imports the authentication classes named in the settings,
    # this module among them, so a module-level import would be circular.
    from rest_framework.views import exception_handler as drf_exception_handler  # type: ignore[import-untyped]

    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, CognitoAPIException):
        for name, value in exc.answer.headers:
            response[name] = value
    return response


class CognitoAuthentication(BaseAuthentication):  # type: ignore[misc]
    """Authenticates DRF requests by the Cognito bearer token: ``(CognitoUser, CognitoClaims)``.

    With :class:`~cognito_guard.integrations.django.CognitoBackend` on, the user is the linked
    ``AUTH_USER_MODEL`` row (a ``CognitoService`` for machine-to-machine tokens) instead, the same
    object as the middleware's ``request.user``; a refused user (deactivated, or unknown with
    ``CREATE_USERS`` off) is answered 403 on every view, as a rejected token is.

    Example::

        REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": [
            "cognito_guard.integrations.django.rest.CognitoAuthentication"]}
        # in a view: request.user.username, request.auth.scopes
    """

    def authenticate(self, request: Any) -> tuple[Any, CognitoClaims] | None:
        """The user and claims; None without a token; raises for a bad header or token."""
        state = request_state(drf_django_request(request))
        if state.error is not None:
            raise CognitoAPIException(_answer(state.guard, state.error, request))
        if state.claims is None:
            return None
        if state.user is not None:
            return state.user, state.claims
        return CognitoUser(state.claims), state.claims

    def authenticate_header(self, request: Any) -> str:
        """The challenge of a 401, which also keeps DRF from turning 401s into 403s."""
        guard = request_state(drf_django_request(request)).guard
        return guard.www_authenticate(MissingTokenError("no bearer token"))


def _answer(guard: BearerGuard, exc: CognitoGuardError, request: Any) -> Answer:
    return guard.answer(exc, method=request.method, path=request.path)


def _items(value: Any, request: Any, view: Any, attribute: str) -> tuple[str, ...]:
    where = f"{type(view).__name__}.{attribute}"
    if isinstance(value, Mapping):
        for key in value:
            if key not in HTTP_METHODS:
                close = closest_method(str(key))
                raise ConfigurationError(
                    f"{where} has the key {key!r}, which is not an HTTP method in capitals"
                    + (f"; did you mean {close!r}?" if close else "")
                )
        method = request.method
        # DRF serves HEAD with the GET handler, so it gets the GET demand unless it has its own.
        if method == "HEAD" and "HEAD" not in value:
            method = "GET"
        if method in value:
            value = value[method]
        elif method == "OPTIONS" or getattr(view, method.lower(), None) is None:
            # DRF's own OPTIONS metadata, or a method the view does not serve (DRF answers 405
            # after the permissions): a valid token is enough, as for any view.
            value = ()
        else:
            # A handler added later without its entry must not be open to every valid token.
            raise ConfigurationError(
                f"{where} has no entry for {method}: add {method!r}: [...] (or {method!r}: [] for "
                "any valid token)"
            )
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable) or not all(isinstance(item, str) for item in value):
        raise ConfigurationError(
            f"{where} must be a list of strings or a dict of them by HTTP method"
        )
    try:
        if attribute == "required_groups":
            return Requirement(groups=tuple(value)).groups
        return Requirement(scopes=tuple(value)).scopes
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None


class IsCognitoAuthenticated(BasePermission):  # type: ignore[misc]
    """Allows requests authenticated by :class:`CognitoAuthentication`; answers 401 otherwise.

    Example: ``permission_classes = [IsCognitoAuthenticated]``
    """

    def requirement(self, request: Any, view: Any) -> Requirement:
        """What the view demands of the token (nothing but its validity here)."""
        return Requirement()

    def has_permission(self, request: Any, view: Any) -> bool:
        """True, or raises :class:`CognitoAPIException` with the RFC 6750 answer."""
        guard = request_state(drf_django_request(request)).guard
        claims = request.auth if isinstance(request.auth, CognitoClaims) else None
        try:
            guard.authorize(claims, self.requirement(request, view))
        except TokenError as exc:
            raise CognitoAPIException(_answer(guard, exc, request)) from None
        return True


class HasScope(IsCognitoAuthenticated):
    """Demands the view's ``required_scopes`` (all of them); 403 ``insufficient_scope`` if not.

    ``required_scopes`` is a list, or a dict from HTTP method to list. With a dict, every method
    the view has a handler for needs its entry (``HEAD`` falls back to ``GET``; DRF's own
    ``OPTIONS`` and methods without a handler need a valid token): a handled method without one is
    refused with a :class:`~cognito_guard.ConfigurationError` (a 500), never let through;
    ``"POST": []`` says "any valid token" explicitly.

    Example::

        class Orders(APIView):
            permission_classes = [HasScope]
            required_scopes = {"GET": ["orders/read"], "POST": ["orders/write"]}
    """

    def requirement(self, request: Any, view: Any) -> Requirement:
        """The view's ``required_scopes`` for this request's method."""
        scopes = getattr(view, "required_scopes", None)
        if scopes is None:
            raise ConfigurationError(f"{type(view).__name__} uses HasScope without required_scopes")
        return Requirement(scopes=_items(scopes, request, view, "required_scopes"))


class InGroup(IsCognitoAuthenticated):
    """Demands membership of one of the view's ``required_groups``; 403 if not.

    Example::

        class Admin(APIView):
            permission_classes = [InGroup]
            required_groups = ["admins"]
    """

    def requirement(self, request: Any, view: Any) -> Requirement:
        """The view's ``required_groups`` for this request's method."""
        groups = getattr(view, "required_groups", None)
        if groups is None:
            raise ConfigurationError(f"{type(view).__name__} uses InGroup without required_groups")
        names = _items(groups, request, view, "required_groups")
        if not names:
            # "in one of no groups" would let every valid token through: never what was meant.
            raise ConfigurationError(
                f"{type(view).__name__}.required_groups is empty for {request.method}: name "
                "the group(s), or use IsCognitoAuthenticated for any valid token"
            )
        return Requirement(groups=names)
