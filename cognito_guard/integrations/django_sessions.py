"""Django glue of web sign-in, kept as an alias module.

The code lives in :mod:`cognito_guard.integrations.django.sessions`; each name here is the same
object.

Example::

    from cognito_guard.integrations.django_sessions import sign_in_from_settings
"""

from __future__ import annotations

from .django.sessions import (
    SETTING,
    aauthenticate,
    authenticate,
    route_view,
    sign_in_from_settings,
    to_response,
    web_request,
)

__all__ = [
    "SETTING",
    "aauthenticate",
    "authenticate",
    "route_view",
    "sign_in_from_settings",
    "to_response",
    "web_request",
]
