"""The app ``"cognito_guard.integrations.django"``: system checks, the identity model, the admin."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class CognitoUsersConfig(AppConfig):
    """The app Django picks for ``"cognito_guard.integrations.django"`` in ``INSTALLED_APPS``.

    Registers the system checks and the signals that keep the in-process identity cache current.

    Example::

        INSTALLED_APPS = [..., "django.contrib.auth", "django.contrib.contenttypes",
                          "cognito_guard.integrations.django"]
    """

    name = "cognito_guard.integrations.django"
    label = "cognito_guard"
    verbose_name = "Cognito Guard"
    # Fixed here, not taken from DEFAULT_AUTO_FIELD, so that the shipped migration matches.
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import check_settings
        from .checks import register
        from .users import connect_signals

        checks.register(check_settings)
        register()
        connect_signals()
