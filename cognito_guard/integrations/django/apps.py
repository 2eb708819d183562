"""The app configs: the full app (checks, the identity model, the admin) and the checks-only one."""

from __future__ import annotations

from django.apps import AppConfig

from .checks import register
from .identities import connect_signals
from .settings import APP_NAME

__all__ = ["CognitoGuardConfig", "CognitoUsersConfig"]


class CognitoUsersConfig(AppConfig):
    """The app Django picks for ``"cognito_guard.integrations.django"`` in ``INSTALLED_APPS``.

    Registers the system checks and the signals that keep the in-process identity cache current.

    Example::

        INSTALLED_APPS = [..., "django.contrib.auth", "django.contrib.contenttypes",
                          "cognito_guard.integrations.django"]
    """

    name = APP_NAME
    label = "cognito_guard"
    verbose_name = "Cognito Guard"
    # Fixed here, not taken from DEFAULT_AUTO_FIELD, so that the shipped migration matches.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        register()
        connect_signals()


class CognitoGuardConfig(AppConfig):
    """The system checks only, without the user model, for projects without users in a database.

    ``"cognito_guard.integrations.django"`` in ``INSTALLED_APPS`` installs the full app (the
    checks, the :class:`~cognito_guard.integrations.django.models.CognitoIdentity` model and its
    migration, the admin); this dotted path is for projects without a database or without
    ``django.contrib.auth``. Its ``name`` is the model-less
    :mod:`cognito_guard.integrations.django.checks` module, so Django finds neither the model nor
    the migration through it. ``default = False`` keeps Django from picking it for the full app's
    entry.

    Example::

        INSTALLED_APPS = [..., "cognito_guard.integrations.django.CognitoGuardConfig"]
    """

    name = f"{APP_NAME}.checks"
    label = "cognito_guard"
    verbose_name = "Cognito Guard"
    default = False

    def ready(self) -> None:
        register()
