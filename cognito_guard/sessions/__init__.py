"""Web sign-in for browser apps: Cognito managed login, server-side sessions, automatic refresh.

The "backend for frontend" of RFC 10017: the server runs the sign-in and keeps the tokens; the
browser gets an opaque, HttpOnly session cookie. Mount it with an adapter (see
``docs/web-sign-in.md``)::

    from cognito_guard.sessions import WebSignIn, MemorySessionStore, RedisSessionStore

    sign_in = WebSignIn(client=client, verifier=verifier,
                        redirect_uri="https://app.example.com/auth/callback",
                        scopes=["openid", "email"], store=MemorySessionStore(),
                        logout_uri="https://app.example.com/")
    CognitoGuard(app, verifier=verifier, sign_in=sign_in)      # Flask or Starlette
"""

from __future__ import annotations

from .guard import SessionGuard
from .settings import sign_in_from_env
from .signin import SessionAuthError, WebSignIn
from .stores import (
    MemorySessionStore,
    RedisSessionStore,
    SessionStore,
    SessionStoreUnavailable,
)
from .web import CSRF_HEADER, CookieRules, WebRequest, WebResponse, safe_return_to

__all__ = [
    "CSRF_HEADER",
    "CookieRules",
    "MemorySessionStore",
    "RedisSessionStore",
    "SessionAuthError",
    "SessionGuard",
    "SessionStore",
    "SessionStoreUnavailable",
    "WebRequest",
    "WebResponse",
    "WebSignIn",
    "safe_return_to",
    "sign_in_from_env",
]
