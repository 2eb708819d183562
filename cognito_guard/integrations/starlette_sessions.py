"""Starlette / FastAPI glue of web sign-in, kept as an alias module.

The code lives in :mod:`cognito_guard.integrations.starlette.sessions`; each name here is the same
object.

Example::

    from cognito_guard.integrations.starlette_sessions import web_request
"""

from __future__ import annotations

from .starlette.sessions import *  # noqa: F403 - exactly the public names of the module
from .starlette.sessions import __all__ as __all__
