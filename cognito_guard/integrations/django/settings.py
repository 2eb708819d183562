"""The Django settings of cognito_guard: read once, validated, refused with clear messages.

Read when Django builds its middleware chain (at start-up, so a configuration error is raised
then, never at the first request) and by the system checks:

- ``COGNITO_GUARD``: a dict of the names :mod:`cognito_guard.config` documents (``USER_POOL_ID``,
  ``CLIENT_ID``, ``TOKEN_USE``, ``JWKS_URI``, ...) and of the Django-only keys below. Without it
  the ``COGNITO_*`` environment variables are read instead.
- ``COGNITO_GUARD_VERIFIER``: a ready :class:`~cognito_guard.CognitoVerifier`, or the dotted path
  of one or of a function returning one. It replaces ``COGNITO_GUARD``; tests use it to inject a
  verifier of a local issuer.
- ``COGNITO_GUARD_REALM``: the ``realm`` of the ``WWW-Authenticate`` challenges (optional).

:func:`cognito_guard.config.verifier_from_settings` refuses keys it does not know (a typo must not
pass silently), so the Django-only keys are taken out of the dict here before the rest is handed
to it.

======================  ======================================================================
``CREATE_USERS``        create the user row on a user's first valid token (default ``True``)
``SYNC_GROUPS``         mirror ``cognito:groups`` into ``django.contrib.auth`` groups (``False``)
``USER_MAPPER``         dotted path of ``fn(claims, user, created) -> None`` (default ``None``)
``STAFF_GROUPS``        ``is_staff`` of the users in any of these ``cognito:groups`` (``None``)
``SUPERUSER_GROUPS``    ``is_superuser`` of the users in any of these groups (``None``)
``SIGN_IN``             dotted path of a :class:`~cognito_guard.sessions.WebSignIn` (web sign-in)
``RESOURCE``            the API's resource identifier (RFC 8707), one of the audiences
                        (``AUDIENCE``): the middleware serves its RFC 9728 metadata
======================  ======================================================================

``STAFF_GROUPS`` and ``SUPERUSER_GROUPS`` (a list of group names, or one name) hand the flag to
Cognito: it is set for a member of any of the groups and cleared for anybody else, on every
sync of the user. ``None`` (the default) leaves the flag to the site's own administrators.

``RESOURCE`` is read from ``COGNITO_GUARD`` even when ``COGNITO_GUARD_VERIFIER`` supplies the
verifier, as ``SIGN_IN`` is.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.utils.module_loading import import_string

from ..._values import names as _names
from ...bearer import BearerGuard
from ...claims import CognitoClaims
from ...config import check_setting_names, verifier_from_env, verifier_from_settings
from ...errors import ConfigurationError
from ...sessions import WebSignIn
from ...sessions.signin import guard_for
from ...verifier import CognitoVerifier

__all__ = [
    "APP_NAME",
    "DJANGO_SETTING_NAMES",
    "MIDDLEWARE_PATH",
    "RESOURCE_SETTING",
    "SIGN_IN_SETTING",
    "UserSettings",
    "build_guard",
    "build_verifier",
    "imported",
    "object_setting",
    "resource_from_settings",
    "sign_in_from_settings",
    "user_settings",
    "verifier_settings",
]

T = TypeVar("T")

APP_NAME = "cognito_guard.integrations.django"
"""The ``INSTALLED_APPS`` entry of the app that holds the ``CognitoIdentity`` model."""
MIDDLEWARE_PATH = "cognito_guard.integrations.django.CognitoMiddleware"
"""The ``MIDDLEWARE`` entry of :class:`~cognito_guard.integrations.django.CognitoMiddleware`."""
SIGN_IN_SETTING = "SIGN_IN"
"""The key of ``settings.COGNITO_GUARD`` naming the :class:`~cognito_guard.sessions.WebSignIn`."""
RESOURCE_SETTING = "RESOURCE"
"""The key of ``settings.COGNITO_GUARD`` holding the API's resource identifier (RFC 9728)."""

# Keys of COGNITO_GUARD that Django reads itself (the verifier loader refuses them).
DJANGO_SETTING_NAMES = (
    "CREATE_USERS",
    "SYNC_GROUPS",
    "USER_MAPPER",
    "STAFF_GROUPS",
    "SUPERUSER_GROUPS",
    SIGN_IN_SETTING,
    RESOURCE_SETTING,
)
# Names of settings.* that Django reads; a near miss of one is refused, not ignored.
_DJANGO_NAMES = ("COGNITO_GUARD", "COGNITO_GUARD_VERIFIER", "COGNITO_GUARD_REALM")
_SOURCE = "settings.COGNITO_GUARD"

UserMapper = Callable[[CognitoClaims, Any, bool], None]


@dataclass(frozen=True)
class UserSettings:
    """How tokens map to ``AUTH_USER_MODEL`` rows (the Django-only ``COGNITO_GUARD`` keys).

    ``staff_groups`` and ``superuser_groups``: None leaves ``is_staff`` / ``is_superuser``
    alone; a set of group names makes the flag "in one of them".

    Example: ``UserSettings(create_users=False)`` refuses tokens of users without a row.
    """

    create_users: bool = True
    sync_groups: bool = False
    user_mapper: UserMapper | None = None
    staff_groups: frozenset[str] | None = None
    superuser_groups: frozenset[str] | None = None

    @property
    def reads_groups(self) -> bool:
        """Whether the user's row depends on the token's groups (sync or a flag from them)."""
        return (
            self.sync_groups or self.staff_groups is not None or self.superuser_groups is not None
        )


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if not isinstance(value, bool):
        raise ConfigurationError(
            f"{_SOURCE}[{key!r}] must be True or False, not {type(value).__name__}"
        )
    return value


def imported(path: str, name: str) -> object:
    """The object at the dotted ``path`` of the setting ``name``; ConfigurationError if none."""
    try:
        return import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"{name} {path!r} cannot be imported: {exc}") from exc


def object_setting(value: object, name: str, kind: type[T]) -> T:
    """A setting naming a ``kind``: one itself, its dotted path, or a factory's (path) that
    returns one. ConfigurationError otherwise, naming the setting and what it got.
    """
    if isinstance(value, str):
        value = imported(value, name)
    if callable(value) and not isinstance(value, kind):
        value = value()
    if not isinstance(value, kind):
        raise ConfigurationError(
            f"{name} must be a {kind.__name__} or the dotted path of one (or of a function "
            f"returning one), not {type(value).__name__}"
        )
    return value


def _mapper(value: object) -> UserMapper | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = imported(value, f"{_SOURCE}['USER_MAPPER']")
    if not callable(value):
        raise ConfigurationError(
            f"{_SOURCE}['USER_MAPPER'] must be the dotted path of a function "
            f"fn(claims, user, created), not {type(value).__name__}"
        )
    return cast(UserMapper, value)


def _group_setting(config: Mapping[str, Any], key: str) -> frozenset[str] | None:
    value = config.get(key)
    if value is None:
        return None
    name = f"{_SOURCE}[{key!r}]"
    return frozenset(_names(value, name, f"{name} = [{{}}]"))


def parse_user_settings(config: Mapping[str, Any]) -> UserSettings:
    """The :class:`UserSettings` of a ``COGNITO_GUARD`` dict; ConfigurationError when invalid.

    Example::

        parse_user_settings({"SYNC_GROUPS": True}).sync_groups   # True
    """
    return UserSettings(
        create_users=_flag(config, "CREATE_USERS", True),
        sync_groups=_flag(config, "SYNC_GROUPS", False),
        user_mapper=_mapper(config.get("USER_MAPPER")),
        staff_groups=_group_setting(config, "STAFF_GROUPS"),
        superuser_groups=_group_setting(config, "SUPERUSER_GROUPS"),
    )


def verifier_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` without the Django-only keys, after checking them (raises ConfigurationError).

    Example::

        verifier_from_settings(verifier_settings(settings.COGNITO_GUARD))
    """
    # Every key at once, Django's own included, so that "CREATE_USER" gets its "did you mean".
    check_setting_names(config, source="COGNITO_GUARD", extra=DJANGO_SETTING_NAMES)
    parse_user_settings(config)
    return {key: value for key, value in config.items() if key not in DJANGO_SETTING_NAMES}


def user_settings() -> UserSettings:
    """The :class:`UserSettings` of ``settings.COGNITO_GUARD`` (defaults without the dict)."""
    config = getattr(settings, "COGNITO_GUARD", None)
    if not isinstance(config, Mapping):
        return UserSettings()
    return parse_user_settings(config)


# -- the verifier and the guard -------------------------------------------------------------------


def build_verifier() -> CognitoVerifier:
    """The verifier the Django settings describe (see the module docstring for the settings).

    Raises :class:`~cognito_guard.ConfigurationError` for missing or invalid settings.

    Example::

        verifier = build_verifier()   # COGNITO_GUARD_VERIFIER, else COGNITO_GUARD, else COGNITO_*
    """
    _check_setting_names()
    injected = getattr(settings, "COGNITO_GUARD_VERIFIER", None)
    if injected is not None:
        return object_setting(injected, "settings.COGNITO_GUARD_VERIFIER", CognitoVerifier)
    config = getattr(settings, "COGNITO_GUARD", None)
    if config is None:
        return verifier_from_env()
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            f"settings.COGNITO_GUARD must be a dict, not {type(config).__name__}"
        )
    return verifier_from_settings(verifier_settings(config), source="COGNITO_GUARD")


def _check_setting_names() -> None:
    # Names that, ignored, would make the routes demand less than the settings say: a near miss
    # of ours (COGNITO_GAURD), or a flat COGNITO_SCOPES/GROUPS where Django reads the dict.
    for name in dir(settings):
        if not name.startswith("COGNITO") or name in _DJANGO_NAMES:
            continue
        rest = name.removeprefix("COGNITO_")
        if rest.rstrip("S") in ("SCOPE", "GROUP"):
            raise ConfigurationError(
                f"settings.{name} is not read: Django takes the Cognito settings from one dict, "
                f"COGNITO_GUARD = {{..., {rest.rstrip('S') + 'S'!r}: ...}}"
            )
        close = difflib.get_close_matches(name, _DJANGO_NAMES, n=1, cutoff=0.85)
        if close:
            raise ConfigurationError(f"unknown setting settings.{name}; did you mean {close[0]}?")


def build_guard() -> BearerGuard:
    """The guard of :func:`build_verifier` and the realm; with ``SIGN_IN``, a
    :class:`~cognito_guard.sessions.SessionGuard` that also accepts the session cookie.

    Example: ``guard = build_guard()``  (what :class:`CognitoMiddleware` does at start-up)
    """
    realm = getattr(settings, "COGNITO_GUARD_REALM", None)
    if realm is not None and not isinstance(realm, str):
        raise ConfigurationError("settings.COGNITO_GUARD_REALM must be a string")
    sign_in, resource = sign_in_from_settings(), resource_from_settings()
    return guard_for(build_verifier(), sign_in, realm=realm or None, resource=resource)


def resource_from_settings() -> str | None:
    """``COGNITO_GUARD["RESOURCE"]``, the API's resource identifier, or None when unset.

    Example: ``resource_from_settings()  # "https://api.example.com"``
    """
    config = getattr(settings, "COGNITO_GUARD", None)
    value = config.get(RESOURCE_SETTING) if isinstance(config, Mapping) else None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(
            f'COGNITO_GUARD["{RESOURCE_SETTING}"] must be a URL string such as '
            f"'https://api.example.com', not {type(value).__name__}"
        )
    return value


# -- web sign-in ----------------------------------------------------------------------------------

_sign_ins: dict[str, WebSignIn] = {}
_sign_ins_lock = threading.Lock()


def sign_in_from_settings() -> WebSignIn | None:
    """The :class:`~cognito_guard.sessions.WebSignIn` named by ``COGNITO_GUARD["SIGN_IN"]``, or
    None (built once: a factory must not make a second session store per middleware).

    Example: ``sign_in = sign_in_from_settings()``  (``sign_in.login_url(...)`` in a view)
    """
    config = getattr(settings, "COGNITO_GUARD", None)
    if not isinstance(config, Mapping):
        return None
    value = config.get(SIGN_IN_SETTING)
    if value is None or isinstance(value, WebSignIn):
        return value
    name = f'COGNITO_GUARD["{SIGN_IN_SETTING}"]'
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{name} must be the dotted path of a WebSignIn (or of a function returning one), "
            f"not {type(value).__name__}"
        )
    with _sign_ins_lock:
        cached = _sign_ins.get(value)
        if cached is None:
            cached = _sign_ins[value] = object_setting(value, name, WebSignIn)
        return cached
