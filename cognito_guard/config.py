"""Build a CognitoVerifier from flat settings: environment variables, Django or Flask config.

Every adapter reads the same names, so one set of settings works everywhere:

=====================  =====================================================================
``USER_POOL_ID``       the pool id (several separated by commas); required unless ``ISSUER``
``CLIENT_ID``          accepted app client id(s), comma-separated; required
``TOKEN_USE``          ``access`` (default), ``id`` or ``any``
``JWKS_URI``           override the JWKS URL (https, or http on loopback)
``ISSUER``             override the issuer(s), comma-separated (local and test issuers)
``SCOPES``             scopes every request must have, space- or comma-separated
``GROUPS``             groups of which every user must be in one
``LEEWAY``             seconds of clock skew tolerated
``ALLOW_ANY_CLIENT``   ``true`` to accept any app client of the pool
``REVOCATIONS_URL``    a Redis URL: refuse revoked tokens with a shared
                       :class:`~cognito_guard.revocation.RedisRevocations`
=====================  =====================================================================

Example::

    verifier = verifier_from_env()   # COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, ...
    verifier = verifier_from_settings(settings.COGNITO_GUARD, source="COGNITO_GUARD")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigurationError
from .verifier import CognitoVerifier

__all__ = ["SETTING_NAMES", "verifier_from_env", "verifier_from_settings"]

SETTING_NAMES = (
    "USER_POOL_ID",
    "CLIENT_ID",
    "TOKEN_USE",
    "JWKS_URI",
    "ISSUER",
    "SCOPES",
    "GROUPS",
    "LEEWAY",
    "ALLOW_ANY_CLIENT",
    "REVOCATIONS_URL",
)
_SPLIT = re.compile(r"[\s,]+")


def _items(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(item for item in _SPLIT.split(value) if item)
    return tuple(value)


def verifier_from_settings(
    settings: Mapping[str, Any], *, prefix: str = "", source: str = "settings", **overrides: Any
) -> CognitoVerifier:
    """A :class:`CognitoVerifier` from a mapping of the names above (each with ``prefix``).

    Raises :class:`~cognito_guard.ConfigurationError` naming the setting at fault. ``overrides``
    are passed to the verifier as they are (``clock=...``, ``key_policy=...``).
    """

    def name(key: str) -> str:
        return f"{source}[{prefix + key!r}]" if source else prefix + key

    def get(key: str) -> Any:
        value = settings.get(prefix + key)
        return None if value == "" else value

    if not prefix:  # a mapping of its own (Django's COGNITO_GUARD): a typo must not pass silently
        unknown = sorted(str(key) for key in settings if key not in SETTING_NAMES)
        if unknown:
            raise ConfigurationError(f"unknown setting(s) {unknown} in {source}")
    token_use = get("TOKEN_USE") or "access"
    if token_use not in ("access", "id", "any"):
        raise ConfigurationError(f"{name('TOKEN_USE')} must be 'access', 'id' or 'any'")
    allow_any = str(get("ALLOW_ANY_CLIENT") or "false").strip().lower()
    if allow_any not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigurationError(f"{name('ALLOW_ANY_CLIENT')} must be true or false")
    pools, issuers, clients = (
        _items(get("USER_POOL_ID")),
        _items(get("ISSUER")),
        _items(get("CLIENT_ID")),
    )
    if not pools and not issuers:
        raise ConfigurationError(f"{name('USER_POOL_ID')} is not set")
    if not clients and allow_any not in ("true", "1", "yes"):
        raise ConfigurationError(
            f"{name('CLIENT_ID')} is not set (set {name('ALLOW_ANY_CLIENT')} to accept any client)"
        )
    try:
        leeway = float(get("LEEWAY") or 0)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name('LEEWAY')} must be a number of seconds") from None
    options: dict[str, Any] = {
        "user_pool_id": pools or None,
        "issuer": issuers or None,
        "client_id": clients,
        "allow_any_client": allow_any in ("true", "1", "yes"),
        "token_use": None if token_use == "any" else token_use,
        "jwks_uri": get("JWKS_URI"),
        "scopes": _items(get("SCOPES")),
        "groups": _items(get("GROUPS")),
        "leeway": leeway,
    }
    revocations_url = get("REVOCATIONS_URL")
    if revocations_url is not None and "revocations" not in overrides:
        from .revocation import RedisRevocations  # imports redis only when configured

        try:
            options["revocations"] = RedisRevocations(str(revocations_url))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{name('REVOCATIONS_URL')}: {exc}") from exc
    options.update(overrides)
    try:
        return CognitoVerifier(**options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"invalid Cognito settings in {source}: {exc}") from exc


def verifier_from_env(
    environ: Mapping[str, str] | None = None, **overrides: Any
) -> CognitoVerifier:
    """A :class:`CognitoVerifier` from ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``, ... ."""
    return verifier_from_settings(
        os.environ if environ is None else environ,
        prefix="COGNITO_",
        source="environment",
        **overrides,
    )
