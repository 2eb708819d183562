"""Kept as an alias: the Flask glue of web sign-in lives in
:mod:`cognito_guard.integrations.flask.sessions`.
"""

from __future__ import annotations

from .flask.sessions import aauthenticate, authenticate, install, to_response, web_request

__all__ = ["aauthenticate", "authenticate", "install", "to_response", "web_request"]
