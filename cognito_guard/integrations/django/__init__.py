"""Django adapter: a middleware, view decorators, system checks, optionally users in a database.

Setup::

    INSTALLED_APPS = [..., "cognito_guard.integrations.django.CognitoGuardConfig"]  # system check
    MIDDLEWARE = [..., "cognito_guard.integrations.django.CognitoMiddleware"]
    COGNITO_GUARD = {"USER_POOL_ID": "eu-west-1_AbCdEf123", "CLIENT_ID": "4a1b...",
                     "TOKEN_USE": "access", "JWKS_URI": None}

    from cognito_guard.integrations.django import require_scope

    @require_scope("orders/read")
    def orders(request):
        return JsonResponse({"user": request.cognito_user.sub})

The package's modules, each importable on its own:

- :mod:`~cognito_guard.integrations.django.settings`: the settings (``COGNITO_GUARD``,
  ``COGNITO_GUARD_VERIFIER``, ``COGNITO_GUARD_REALM``), read once when Django builds its
  middleware chain, so a configuration error is raised at start-up, never at the first request;
- :mod:`~cognito_guard.integrations.django.middleware`: :class:`CognitoMiddleware` verifies every
  request's credentials once and keeps the outcome on the request;
- :mod:`~cognito_guard.integrations.django.decorators`: :func:`require_auth`,
  :func:`require_scope`, :func:`require_group` answer a missing, malformed or rejected token with
  its RFC 6750 answer (400, 401, 403 or 503); an unprotected view ignores it;
- :mod:`~cognito_guard.integrations.django.principals`: :class:`CognitoUser`,
  :class:`CognitoService`, request users without a database row;
- :mod:`~cognito_guard.integrations.django.checks` and ``apps``: the ``manage.py check`` checks;
- :mod:`~cognito_guard.integrations.django.rest`: Django REST framework classes (also importable
  from ``cognito_guard.integrations.django_rest``);
- :mod:`~cognito_guard.integrations.django.sessions` and ``urls``: web sign-in (``SIGN_IN``),
  Django's logout ending its session, the admin's login and logout views for a staff site that
  signs in through Cognito; :mod:`~cognito_guard.integrations.django.web`: Django's requests as
  web sign-in's, with Django's CSRF check counting for cookie-authenticated forms;
- users in your database (optional, off by default): with ``"cognito_guard.integrations.django"``
  in ``INSTALLED_APPS`` and :class:`CognitoBackend` in ``AUTHENTICATION_BACKENDS``, the middleware
  also sets ``request.user`` to the ``AUTH_USER_MODEL`` row linked to the token's pool and ``sub``
  (``backends``, ``users``, ``models``, ``admin``, ``migrations``); ``STAFF_GROUPS`` and
  ``SUPERUSER_GROUPS`` give ``is_staff`` and ``is_superuser`` to Cognito's groups.

Django imports this package as an app before its app registry is ready: nothing imported here
reads a model (``CognitoBackend``, whose base class does, is loaded on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .apps import CognitoGuardConfig
from .checks import check_settings
from .decorators import django_answer, require_auth, require_group, require_scope
from .middleware import CognitoMiddleware, CognitoRequest, RequestState, request_state
from .principals import CognitoService, CognitoUser
from .settings import MIDDLEWARE_PATH, build_guard, build_verifier

if TYPE_CHECKING:
    from .backends import CognitoBackend

__all__ = [
    "MIDDLEWARE_PATH",
    "CognitoBackend",
    "CognitoGuardConfig",
    "CognitoMiddleware",
    "CognitoRequest",
    "CognitoService",
    "CognitoUser",
    "RequestState",
    "build_guard",
    "build_verifier",
    "check_settings",
    "django_answer",
    "request_state",
    "require_auth",
    "require_group",
    "require_scope",
]


def __getattr__(name: str) -> Any:
    # CognitoBackend subclasses ModelBackend, whose module reads the user model on import; it is
    # loaded on first use so that importing this package never needs the app registry.
    if name == "CognitoBackend":
        from .backends import CognitoBackend

        return CognitoBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
