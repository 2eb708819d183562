"""Flask glue of web sign-in, kept as an alias module.

The code lives in :mod:`cognito_guard.integrations.flask.sessions`; each name here is the same
object.

Example::

    from cognito_guard.integrations.flask_sessions import web_request
"""

from __future__ import annotations

from .flask.sessions import *  # noqa: F403 - exactly the public names of the module
from .flask.sessions import __all__ as __all__
