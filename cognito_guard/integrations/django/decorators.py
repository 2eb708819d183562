"""View decorators: a protected view answers a missing, malformed or rejected token (RFC 6750).

They read what :class:`~cognito_guard.integrations.django.CognitoMiddleware` found on the request
and never verify a token themselves. They authenticate by what the middleware accepts, the
``Authorization`` header (and, with ``SIGN_IN``, the session cookie under its CSRF rule:
``X-CSRF: 1``, or Django's CSRF token for a view that is not ``csrf_exempt``),
so an API-only project can leave ``CsrfViewMiddleware`` out or mark its views ``csrf_exempt``.

Example::

    @require_scope("orders/read")
    def orders(request):
        return JsonResponse({"user": request.cognito_user.sub})
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, JsonResponse

from ...bearer import Answer, Requirement
from ...errors import CognitoGuardError, ConfigurationError
from .._decorators import RouteDecorators
from .._resource import mark
from .middleware import STATE, found

__all__ = ["django_answer", "require_auth", "require_group", "require_scope"]

View = TypeVar("View", bound=Callable[..., Any])


def django_answer(answer: Answer) -> JsonResponse:
    """A :class:`~django.http.JsonResponse` of a :class:`~cognito_guard.bearer.Answer`.

    Example::

        return django_answer(guard.answer(exc))   # status, challenge, JSON body
    """
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers:
        response[name] = value
    return response


def _denial(request: HttpRequest, requirement: Requirement, any_token: bool) -> JsonResponse | None:
    # Runs on every protected request: the usual case (the Django request itself, carrying a
    # verified token, nothing more demanded) is answered before found()'s look-through.
    state = request.__dict__.get(STATE)
    guard, claims, error, _user = found(request) if state is None else state
    if error is None and claims is not None and any_token:
        return None  # a verified token, and nothing more demanded
    if error is None:
        try:
            guard.authorize(claims, requirement)
        except CognitoGuardError as exc:
            error = exc
    if error is None:
        return None
    return django_answer(guard.answer(error, method=request.method, path=request.path))


def _written(requirement: Requirement, name: str) -> str:
    """The decorator as written in code: ``require_auth``, ``require_scope("orders/read")``."""
    names = requirement.scopes or requirement.groups
    return f"{name}({', '.join(json.dumps(n) for n in names)})" if names else name


def _protect(requirement: Requirement, name: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        if isinstance(view, type):
            written = _written(requirement, name)
            raise ConfigurationError(
                f"@{written} decorates view functions, not the class {view.__name__}: use "
                f'@method_decorator({written}, name="dispatch") on the class, or '
                f"{written}({view.__name__}.as_view()) in urls.py"
            )
        if not callable(view):
            raise ConfigurationError(f"@{name} decorates a view function, not {view!r}")
        any_token = requirement.is_empty  # then a verified token is all it takes
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                denial = _denial(request, requirement, any_token)
                if denial is not None:
                    return denial
                return await view(request, *args, **kwargs)

            # Marked with its requirement: the scopes of the metadata document.
            return cast(View, mark(async_view, requirement))

        @functools.wraps(view)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            denial = _denial(request, requirement, any_token)
            if denial is not None:
                return denial
            return view(request, *args, **kwargs)

        return cast(View, mark(sync_view, requirement))

    return decorator


# The same three decorators as Flask's, from one definition (integrations/_decorators.py).
require_auth, require_scope, require_group = RouteDecorators(_protect).decorators()
