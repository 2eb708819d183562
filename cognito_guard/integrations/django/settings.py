"""The Django-only keys of ``settings.COGNITO_GUARD``: read, validated, and kept from the loader.

:func:`cognito_guard.config.verifier_from_settings` refuses keys it does not know (a typo must not
pass silently), so the keys below are taken out of the dict here before the rest is handed to it.

======================  ======================================================================
``CREATE_USERS``        create the user row on a user's first valid token (default ``True``)
``SYNC_GROUPS``         mirror ``cognito:groups`` into ``django.contrib.auth`` groups (``False``)
``USER_MAPPER``         dotted path of ``fn(claims, user, created) -> None`` (default ``None``)
======================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from django.conf import settings
from django.utils.module_loading import import_string

from ...claims import CognitoClaims
from ...config import check_setting_names
from ...errors import ConfigurationError

__all__ = [
    "DJANGO_SETTING_NAMES",
    "UserSettings",
    "imported",
    "object_setting",
    "user_settings",
    "verifier_settings",
]

T = TypeVar("T")

# Keys only the Django adapter reads; a later sign-in key joins this tuple.
# Keys of COGNITO_GUARD that Django reads itself; SIGN_IN names a WebSignIn (web sign-in).
DJANGO_SETTING_NAMES = ("CREATE_USERS", "SYNC_GROUPS", "USER_MAPPER", "SIGN_IN")
_SOURCE = "settings.COGNITO_GUARD"

UserMapper = Callable[[CognitoClaims, Any, bool], None]


@dataclass(frozen=True)
class UserSettings:
    """How tokens map to ``AUTH_USER_MODEL`` rows (the Django-only ``COGNITO_GUARD`` keys).

    Example: ``UserSettings(create_users=False)`` refuses tokens of users without a row.
    """

    create_users: bool = True
    sync_groups: bool = False
    user_mapper: UserMapper | None = None


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


def parse_user_settings(config: Mapping[str, Any]) -> UserSettings:
    """The :class:`UserSettings` of a ``COGNITO_GUARD`` dict; ConfigurationError when invalid.

    Example::

        parse_user_settings({"SYNC_GROUPS": True}).sync_groups   # True
    """
    return UserSettings(
        create_users=_flag(config, "CREATE_USERS", True),
        sync_groups=_flag(config, "SYNC_GROUPS", False),
        user_mapper=_mapper(config.get("USER_MAPPER")),
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
