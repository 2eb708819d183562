"""Kept as an alias: the Starlette / FastAPI glue of web sign-in lives in
:mod:`cognito_guard.integrations.starlette.sessions`.
"""

from __future__ import annotations

from .starlette.sessions import aauthenticate, install, to_response, web_request

__all__ = ["aauthenticate", "install", "to_response", "web_request"]
