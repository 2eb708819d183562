"""Django glue of web sign-in, kept as an alias module.

The code lives in :mod:`cognito_guard.integrations.django.sessions`; each name here is the same
object.

Example::

    from cognito_guard.integrations.django_sessions import sign_in_from_settings
"""

from __future__ import annotations

from .django.sessions import *  # noqa: F403 - exactly the public names of the module
from .django.sessions import __all__ as __all__
