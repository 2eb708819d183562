"""The ``manage.py check`` checks (``cognito_guard.E001`` to ``E008``, ``W001``, ``W002``).

This module is also the ``name`` of the checks-only app
(:class:`~cognito_guard.integrations.django.CognitoGuardConfig`): it must import nothing that
needs the app registry or ``django.contrib.auth``.

- ``E001``: missing or invalid settings (the verifier cannot be built), or an invalid
  ``CREATE_USERS``, ``SYNC_GROUPS``, ``USER_MAPPER``, ``STAFF_GROUPS`` or ``SUPERUSER_GROUPS``;
- ``W001``: ``CognitoMiddleware`` is not in ``MIDDLEWARE``;
- ``E002``: ``CognitoBackend`` is on but ``"cognito_guard.integrations.django"`` is not installed;
- ``E003``: the app's migration is missing (``MIGRATION_MODULES`` disables or replaces it);
- ``E004``: the user model's ``USERNAME_FIELD`` cannot be filled from a token (no ``USER_MAPPER``);
- ``E005``: ``SYNC_GROUPS`` with a user model without ``groups``;
- ``E006``: ``SYNC_GROUPS`` (``STAFF_GROUPS``, ``SUPERUSER_GROUPS``) with several pools, one of
  which has no pool id to scope its group names by (an ``ISSUER`` that does not end with one), or
  two the same;
- ``E007``: ``STAFF_GROUPS`` (``SUPERUSER_GROUPS``) with a user model without ``is_staff``
  (``is_superuser``);
- ``E008``: ``SIGN_IN`` with ``CSRF_USE_SESSIONS`` and ``CognitoMiddleware`` not after
  ``SessionMiddleware``: Django's CSRF check of a cookie-authenticated form reads the session;
- ``W002``: ``AuthenticationMiddleware`` after ``CognitoMiddleware`` (it would replace
  ``request.user``).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks

from ...errors import ConfigurationError
from ._compat import migrations_module
from .middleware import cognito_backend
from .settings import (
    APP_NAME,
    MIDDLEWARE_PATH,
    build_guard,
    build_verifier,
    sign_in_from_settings,
    user_settings,
)
from .users import group_scope_problem

__all__ = ["check_settings", "check_users", "register"]

AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def register() -> None:
    """Register :func:`check_settings` and :func:`check_users` (both app configs do, in
    ``ready``)."""
    checks.register(check_settings)
    checks.register(check_users)


def check_settings(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """The ``manage.py check`` check: the Cognito settings build a verifier; middleware is on.

    ``cognito_guard.E001`` for missing or invalid settings, ``cognito_guard.W001`` when the
    middleware is not in ``MIDDLEWARE``.

    Example::

        from django.core.checks import run_checks
        [m.id for m in run_checks()]   # e.g. ["cognito_guard.E001"]
    """
    messages: list[Any] = []
    try:
        build_guard()
        messages += _csrf_session_messages()
    except ConfigurationError as exc:
        messages.append(
            checks.Error(
                f"cognito_guard is not configured: {exc}",
                hint="Set settings.COGNITO_GUARD = {'USER_POOL_ID': ..., 'CLIENT_ID': ...} or "
                "the COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID environment variables.",
                id="cognito_guard.E001",
            )
        )
    if MIDDLEWARE_PATH not in (getattr(settings, "MIDDLEWARE", None) or ()):
        messages.append(
            checks.Warning(
                f"{MIDDLEWARE_PATH!r} is not in settings.MIDDLEWARE",
                hint="The cognito_guard decorators and DRF classes need it to see the token.",
                id="cognito_guard.W001",
            )
        )
    return messages


def check_users(app_configs: Iterable[AppConfig] | None = None, **kwargs: Any) -> list[Any]:
    """The user-mapping checks; nothing to report while ``CognitoBackend`` is off.

    Example::

        from django.core.checks import run_checks
        [m.id for m in run_checks()]   # e.g. ["cognito_guard.E002"]
    """
    try:
        config = user_settings()
    except ConfigurationError as exc:
        if getattr(settings, "COGNITO_GUARD_VERIFIER", None) is None:
            return []  # check_settings reports it: building the verifier reads the same keys
        return [checks.Error(f"cognito_guard is not configured: {exc}", id="cognito_guard.E001")]
    if cognito_backend() is None:
        return []
    if not apps.is_installed(APP_NAME):
        return [
            checks.Error(
                f"CognitoBackend is in settings.AUTHENTICATION_BACKENDS but {APP_NAME!r} is not "
                "in settings.INSTALLED_APPS",
                hint=f"Add {APP_NAME!r} to INSTALLED_APPS (in place of "
                f"'{APP_NAME}.CognitoGuardConfig', which has no model), then run migrate.",
                id="cognito_guard.E002",
            )
        ]
    messages = _migration_messages()
    messages += _user_model_messages(config.user_mapper is not None, config.sync_groups)
    messages += _flag_messages(config.staff_groups, config.superuser_groups)
    if config.reads_groups:
        messages += _group_scope_messages()
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if (
        AUTH_MIDDLEWARE in middleware
        and MIDDLEWARE_PATH in middleware
        and middleware.index(AUTH_MIDDLEWARE) > middleware.index(MIDDLEWARE_PATH)
    ):
        messages.append(
            checks.Warning(
                f"{AUTH_MIDDLEWARE!r} comes after {MIDDLEWARE_PATH!r} in settings.MIDDLEWARE",
                hint="It replaces the request.user that CognitoMiddleware set; put it before.",
                id="cognito_guard.W002",
            )
        )
    return messages


def _migration_messages() -> list[Any]:
    module_name = migrations_module("cognito_guard")
    problem = None
    if module_name is None:
        problem = "settings.MIGRATION_MODULES disables the migrations of 'cognito_guard'"
    else:
        try:
            import_module(f"{module_name}.0001_initial")
        except ImportError:
            problem = f"the migration {module_name}.0001_initial cannot be found"
    if problem is None:
        return []
    return [
        checks.Error(
            f"{problem}: the CognitoIdentity table would never be created",
            hint="Remove 'cognito_guard' from settings.MIGRATION_MODULES, then run migrate.",
            id="cognito_guard.E003",
        )
    ]


def _group_scope_messages() -> list[Any]:
    try:
        issuers = build_verifier().issuers
    except ConfigurationError:
        return []  # check_settings reports it (E001)
    problem = group_scope_problem(issuers)
    if problem is None:
        return []
    return [
        checks.Error(
            f"COGNITO_GUARD's group settings cannot keep the pools' groups apart: {problem}",
            hint="Configure each pool by USER_POOL_ID (or an ISSUER ending with its pool id), "
            "or turn SYNC_GROUPS, STAFF_GROUPS and SUPERUSER_GROUPS off and map groups in a "
            "USER_MAPPER.",
            id="cognito_guard.E006",
        )
    ]


def _user_model_messages(has_mapper: bool, sync_groups: bool) -> list[Any]:
    from django.contrib.auth import get_user_model
    from django.db import models

    model = get_user_model()
    messages: list[Any] = []
    name = getattr(model, "USERNAME_FIELD", None)
    try:
        field = model._meta.get_field(name) if isinstance(name, str) else None
    except Exception:
        field = None
    fillable = (
        isinstance(field, models.CharField)
        and not isinstance(field, models.EmailField)
        and not field.choices
    )
    if not fillable and not has_mapper:
        messages.append(
            checks.Error(
                f"{model._meta.label}.USERNAME_FIELD ({name!r}) cannot be filled from a Cognito "
                "token: a new user's username is the token's username, which needs a CharField",
                hint="Set COGNITO_GUARD['USER_MAPPER'] to a function that fills it on creation "
                "(it gets the unsaved user with created=True), or use a CharField.",
                id="cognito_guard.E004",
            )
        )
    if sync_groups and not hasattr(model, "groups"):
        messages.append(
            checks.Error(
                f"COGNITO_GUARD['SYNC_GROUPS'] is on but {model._meta.label} has no groups",
                hint="Use PermissionsMixin in the user model, or turn SYNC_GROUPS off.",
                id="cognito_guard.E005",
            )
        )
    return messages


def _flag_messages(staff: frozenset[str] | None, superuser: frozenset[str] | None) -> list[Any]:
    from django.contrib.auth import get_user_model

    model = get_user_model()
    names = {field.name for field in model._meta.concrete_fields}
    messages: list[Any] = []
    for key, groups, flag in (
        ("STAFF_GROUPS", staff, "is_staff"),
        ("SUPERUSER_GROUPS", superuser, "is_superuser"),
    ):
        if groups is not None and flag not in names:
            messages.append(
                checks.Error(
                    f"COGNITO_GUARD[{key!r}] is set but {model._meta.label} has no {flag} field",
                    hint=f"Remove {key}, or give the user model the field (AbstractUser has it).",
                    id="cognito_guard.E007",
                )
            )
    return messages


def _csrf_session_messages() -> list[Any]:
    if not getattr(settings, "CSRF_USE_SESSIONS", False) or sign_in_from_settings() is None:
        return []
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    if MIDDLEWARE_PATH not in middleware:
        return []  # W001 says so
    if SESSION_MIDDLEWARE in middleware and middleware.index(SESSION_MIDDLEWARE) < middleware.index(
        MIDDLEWARE_PATH
    ):
        return []
    return [
        checks.Error(
            f"settings.CSRF_USE_SESSIONS is on and {MIDDLEWARE_PATH!r} does not come after "
            f"{SESSION_MIDDLEWARE!r} in settings.MIDDLEWARE",
            hint="Django's CSRF check of a form posted with the session cookie reads the CSRF "
            "token from request.session, which SessionMiddleware sets: put it before.",
            id="cognito_guard.E008",
        )
    ]
