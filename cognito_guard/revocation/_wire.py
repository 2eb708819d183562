"""The list's wire format: how entries read from Redis (sorted-set members, pub/sub messages)
are checked and parsed; what is malformed is None, never an exception.

:attr:`Revocation.member <cognito_guard.revocation.Revocation.member>` and
:attr:`~cognito_guard.revocation.Revocation.message` write the same format.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeGuard

from ..errors import ConfigurationError, shorten
from .protocols import KINDS, Revocation

__all__ = ["MAX_ID_LENGTH", "parse_member", "parse_message"]

MAX_ID_LENGTH = 1024


def _valid_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def check_id(value: object, what: str) -> str:
    """``value`` if it can be an id of the list, else a :class:`ConfigurationError`."""
    if _valid_id(value):
        return value
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string, not {shorten(value)}")
    raise ConfigurationError(
        f"{what} must be at most {MAX_ID_LENGTH} printable characters, not {shorten(value)}"
    )


def number(value: object) -> float | None:
    """``value`` as a finite float, or None when it is not a number (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse(kind: object, ident: object, at: object, expires: object) -> Revocation | None:
    """A :class:`Revocation` from values read from Redis, or None when they are malformed."""
    if kind not in KINDS or not _valid_id(ident):
        return None
    expiry = number(expires)
    when = number(at)
    if expiry is None or (kind == "sub") != (when is not None):
        return None
    return Revocation(kind, ident, expiry, when)


def _json_list(text: bytes | str, length: int) -> list[Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, list) and len(value) == length else None


def parse_member(member: bytes | str, score: float) -> Revocation | None:
    """The entry a sorted-set member (``[kind, id, at]``, scored by expiry) stands for, or None
    when it is malformed."""
    value = _json_list(member, 3)
    return None if value is None else _parse(value[0], value[1], value[2], score)


def parse_message(data: bytes | str) -> Revocation | None:
    """The entry a pub/sub message (``[kind, id, at, expires]``) announces, or None when it is
    malformed."""
    value = _json_list(data, 4)
    return None if value is None else _parse(*value)
