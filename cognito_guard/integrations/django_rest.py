"""Django REST framework classes, kept as an alias of :mod:`cognito_guard.integrations.django.rest`.

The code lives in :mod:`cognito_guard.integrations.django.rest`; this path stays importable
because projects name it in their settings strings, and each name here is the same object::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "cognito_guard.integrations.django_rest.CognitoAuthentication",
        ],
        "EXCEPTION_HANDLER": "cognito_guard.integrations.django_rest.exception_handler",
    }
"""

from __future__ import annotations

from .django.rest import *  # noqa: F403 - exactly the public names of the module
from .django.rest import __all__ as __all__
