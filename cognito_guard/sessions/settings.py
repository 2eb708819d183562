"""A :class:`WebSignIn` from ``COGNITO_SIGN_IN_*`` environment variables (the example apps use it).

=========================================  ====================================================
``COGNITO_SIGN_IN_DOMAIN``                 the managed-login domain; without it there is no sign-in
``COGNITO_SIGN_IN_CLIENT_ID``              the app client (default: the first ``COGNITO_CLIENT_ID``)
``COGNITO_SIGN_IN_CLIENT_SECRET``          its secret, for a confidential client
``COGNITO_SIGN_IN_REDIRECT_URI``           default ``/auth/callback`` (on the request's origin)
``COGNITO_SIGN_IN_LOGOUT_URI``             default ``/`` (on the request's origin)
``COGNITO_SIGN_IN_SCOPES``                 default ``openid email``
``COGNITO_SIGN_IN_RESOURCE``               the API's resource indicator (RFC 8707), asked for
                                           at sign-in: the tokens' ``aud``
``COGNITO_SIGN_IN_REDIS_URL``              share sessions on Redis (else in this process's memory)
``COGNITO_SIGN_IN_ENCRYPTION_KEY``         the Fernet key of the Redis sessions (needed with Redis)
``COGNITO_SIGN_IN_REFRESH_SKEW``           seconds before expiry to refresh (default 60)
``COGNITO_SIGN_IN_IDLE_TIMEOUT``           seconds of inactivity that end a session (default none)
``COGNITO_SIGN_IN_LIFETIME``               seconds a session lasts at most (default 30 days)
``COGNITO_SIGN_IN_MAX_PENDING_LOGINS``     started sign-ins kept at most (default 10000)
``COGNITO_SIGN_IN_INSECURE_DEV_COOKIES``   ``1`` for plain http on a loopback host
=========================================  ====================================================

``INSECURE_DEV_COOKIES`` (``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``)
is for development only: see ``WebSignIn(insecure_dev_cookies=...)``. Logout records the session
in the verifier's revocation list when it has one (``COGNITO_REVOCATIONS_URL``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..client import CognitoTokenClient
from ..errors import ConfigurationError
from ..revocation import RevocationWrites
from ..verifier import CognitoVerifier
from .signin import WebSignIn
from .stores import MemorySessionStore, RedisSessionStore, SessionStore

__all__ = ["sign_in_from_env"]

_PREFIX = "COGNITO_SIGN_IN_"
T = TypeVar("T")


def _parsed(
    environ: Mapping[str, str], name: str, convert: Callable[[str], T], what: str
) -> T | None:
    """The variable ``name`` converted (None when unset or blank); ``what`` says what it must be."""
    value = environ.get(_PREFIX + name, "").strip()
    if not value:
        return None
    try:
        return convert(value)
    except ValueError:
        raise ConfigurationError(f"{_PREFIX + name} must be {what}") from None


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(_PREFIX + name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"{_PREFIX + name} must be 1 or 0 (true or false)")


def sign_in_from_env(
    verifier: CognitoVerifier, environ: Mapping[str, str] | None = None
) -> WebSignIn | None:
    """The :class:`WebSignIn` the ``COGNITO_SIGN_IN_*`` variables describe, or None without them.

    Example: ``sign_in = sign_in_from_env(verifier)``
    """
    env = os.environ if environ is None else environ
    domain = env.get(_PREFIX + "DOMAIN", "").strip()
    if not domain:
        return None
    client_id = env.get(_PREFIX + "CLIENT_ID", "").strip() or next(
        iter(re.split(r"[\s,]+", env.get("COGNITO_CLIENT_ID", "").strip())), ""
    )
    client = CognitoTokenClient(
        client_id, env.get(_PREFIX + "CLIENT_SECRET") or None, domain=domain
    )
    store: SessionStore
    limits: dict[str, Any] = {}
    max_pending = _parsed(env, "MAX_PENDING_LOGINS", int, "a whole number")
    if max_pending is not None:
        limits["max_pending_logins"] = max_pending
    redis_url = env.get(_PREFIX + "REDIS_URL", "").strip()
    if redis_url:
        store = RedisSessionStore(
            redis_url, encryption_key=env.get(_PREFIX + "ENCRYPTION_KEY") or None, **limits
        )
    else:
        store = MemorySessionStore(**limits)
    options: dict[str, Any] = {"insecure_dev_cookies": _flag(env, "INSECURE_DEV_COOKIES")}
    for name, option in (
        ("REFRESH_SKEW", "refresh_skew"),
        ("IDLE_TIMEOUT", "idle_timeout"),
        ("LIFETIME", "session_lifetime"),
    ):
        value = _parsed(env, name, float, "a number of seconds")
        if value is not None:
            options[option] = value
    # The verifier's list (COGNITO_REVOCATIONS_URL): logout records the session there, so every
    # process refuses its tokens, with no second list and thread for the same Redis.
    if isinstance(verifier.revocations, RevocationWrites):
        options["revocations"] = verifier.revocations
    return WebSignIn(
        client=client,
        verifier=verifier,
        redirect_uri=env.get(_PREFIX + "REDIRECT_URI") or "/auth/callback",
        logout_uri=env.get(_PREFIX + "LOGOUT_URI") or "/",
        scopes=(env.get(_PREFIX + "SCOPES") or "openid email").split(),
        store=store,
        resource=env.get(_PREFIX + "RESOURCE", "").strip() or None,
        **options,
    )
