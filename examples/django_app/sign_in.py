"""The project's WebSignIn (``COGNITO_GUARD["SIGN_IN"]`` names this function; it runs once)."""

from __future__ import annotations

from cognito_guard.integrations.django import build_verifier
from cognito_guard.sessions import WebSignIn, sign_in_from_env


def web_sign_in() -> WebSignIn:
    """Web sign-in from the COGNITO_SIGN_IN_* variables, verifying with the project's settings."""
    sign_in = sign_in_from_env(build_verifier())
    assert sign_in is not None  # noqa: S101 - settings.py names this only when it is configured
    return sign_in
