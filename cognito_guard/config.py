"""Build a CognitoVerifier from flat settings: environment variables, Django or Flask config.

Every adapter reads the same names, so one set of settings works everywhere:

=====================  =====================================================================
``USER_POOL_ID``       the pool id (several separated by commas); required unless ``ISSUER``
``CLIENT_ID``          accepted app client id(s), comma-separated; required
``TOKEN_USE``          ``access`` (default), ``id`` or ``any``
``AUDIENCE``           the resource indicator(s) access tokens must carry in ``aud``,
                       space- or comma-separated (RFC 8707; see ``CognitoVerifier``)
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

A misspelt name must not pass silently (``COGNITO_SCOPE`` ignored would leave every route open to
any token): in a mapping of its own (Django's ``COGNITO_GUARD``) every unknown name is an error;
under a prefix that applications share with their own values (``COGNITO_*`` in ``app.config``
or the environment, where ``COGNITO_DOMAIN`` may well be the application's), only a name close to
one of ours is, with "did you mean" (see :func:`check_setting_names`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigurationError
from .verifier import CognitoVerifier

__all__ = ["SETTING_NAMES", "check_setting_names", "verifier_from_env", "verifier_from_settings"]

SETTING_NAMES = (
    "USER_POOL_ID",
    "CLIENT_ID",
    "TOKEN_USE",
    "AUDIENCE",
    "JWKS_URI",
    "ISSUER",
    "SCOPES",
    "GROUPS",
    "LEEWAY",
    "ALLOW_ANY_CLIENT",
    "REVOCATIONS_URL",
)
_SPLIT = re.compile(r"[\s,]+")
# Names under the COGNITO_ prefix that cognito_guard itself reads elsewhere (the CLI's secret,
# Django's own settings): never taken for misspellings of the names above.
_OTHER_NAMES = frozenset({"CLIENT_SECRET", "GUARD", "GUARD_REALM", "GUARD_VERIFIER"})
_CUTOFF = 0.8  # difflib ratio: COGNITO_SCOPE/SCOPES 0.91, CLIENT_SECRET/CLIENT_ID 0.73
_LINK_WORDS = ("URL", "URI")


def _unlinked(words: list[str]) -> list[str]:
    """``words`` without a last ``URL`` or ``URI``: ``JWKS``, ``JWKS_URL`` and ``JWKS_URI`` meet."""
    return words[:-1] if words and words[-1] in _LINK_WORDS else words


def _same_words(upper: str, known: tuple[str, ...]) -> str | None:
    """The name of ours ``upper`` spells with its words joined, shortened or linked otherwise.

    Too far apart for difflib, yet the same setting: ``POOL_ID`` (other tools' name for
    ``USER_POOL_ID``), ``USERPOOLID``, ``ANY_CLIENT``, ``ISSUER_URL``, ``REVOCATIONS``. Only a
    name of three words or more loses one, at either end, keeping two: a one-word remainder
    (``ID``, ``URL``) is the application's.
    """
    words = [word for word in upper.replace("-", "_").split("_") if word]
    for candidate in known:
        theirs = candidate.split("_")
        if "".join(words) == "".join(theirs):
            return candidate
        if len(words) >= 2 and len(theirs) >= 3 and words in (theirs[1:], theirs[:-1]):
            return candidate
        if _unlinked(words) and _unlinked(words) == _unlinked(theirs):
            return candidate
    return None


def _suggestion(name: str, known: tuple[str, ...] = SETTING_NAMES) -> str | None:
    """The setting ``name`` is probably a misspelling of, or None."""
    upper = name.upper()
    if upper in known:  # right name, wrong case: app.config["cognito_scopes"]
        return upper
    for candidate in (upper + "S", upper.removesuffix("S"), upper.replace("-", "_")):
        if candidate in known:
            return candidate
    same = _same_words(upper, known)
    if same is not None:
        return same
    close = difflib.get_close_matches(upper, known, n=1, cutoff=_CUTOFF)
    return close[0] if close else None


def check_setting_names(
    names: Iterable[object],
    *,
    prefix: str = "",
    source: str = "settings",
    extra: Iterable[str] = (),
) -> None:
    """Refuse setting names that are not ours, with "did you mean" for a near miss.

    Without ``prefix`` (a mapping of its own) every unknown name is refused. With one, only names
    that start with it (case-insensitively) and come close to one of :data:`SETTING_NAMES`
    (singular or plural, another case, a typo) are; unrelated names are the application's own.

    Example::

        check_setting_names(app.config, prefix="COGNITO_", source="app.config")
        # ConfigurationError: unknown setting 'COGNITO_SCOPE' in app.config;
        #                     did you mean 'COGNITO_SCOPES'?
    """
    known = (*SETTING_NAMES, *extra)  # extra: names an adapter reads itself (Django's SIGN_IN)
    problems: list[str] = []
    for key in names:
        if not isinstance(key, str):
            if not prefix:
                problems.append(f"{key!r} (setting names are strings)")
            continue
        if not key.upper().startswith(prefix.upper()):
            continue
        rest = key[len(prefix) :]
        if rest in known or (prefix and rest.upper() in _OTHER_NAMES):
            continue
        guess = _suggestion(rest, known)
        if guess is None and prefix:
            continue  # not ours: an application value that shares the prefix
        listed = ", ".join(known)
        hint = f"; did you mean {prefix + guess!r}?" if guess else f"; the names are {listed}"
        problems.append(f"{key!r}{hint}")
    if problems:
        raise ConfigurationError(
            f"unknown setting{'s' if len(problems) > 1 else ''} in {source}: " + "; ".join(problems)
        )


def _items(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(item for item in _SPLIT.split(value) if item)
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{what} must be a string or a list of strings, not {type(value).__name__}"
        )
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

    check_setting_names(settings, prefix=prefix, source=source)
    token_use = get("TOKEN_USE") or "access"
    if token_use not in ("access", "id", "any"):
        raise ConfigurationError(f"{name('TOKEN_USE')} must be 'access', 'id' or 'any'")
    allow_any = str(get("ALLOW_ANY_CLIENT") or "false").strip().lower()
    if allow_any not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigurationError(f"{name('ALLOW_ANY_CLIENT')} must be true or false")
    pools, issuers, clients = (
        _items(get("USER_POOL_ID"), name("USER_POOL_ID")),
        _items(get("ISSUER"), name("ISSUER")),
        _items(get("CLIENT_ID"), name("CLIENT_ID")),
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
        "audience": _items(get("AUDIENCE"), name("AUDIENCE")) or None,
        "jwks_uri": get("JWKS_URI"),
        "scopes": _items(get("SCOPES"), name("SCOPES")),
        "groups": _items(get("GROUPS"), name("GROUPS")),
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
