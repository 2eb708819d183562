"""The list's wire format: how entries read from Redis (sorted-set members, pub/sub messages)
are checked and parsed; what is malformed is None, never an exception.

:attr:`Revocation.member <cognito_guard.revocation.Revocation.member>` and
:attr:`~cognito_guard.revocation.Revocation.message` write the same format.
"""

from __future__ import annotations

import json
import math

from ..errors import ConfigurationError, shorten
from .protocols import KINDS, Revocation

__all__ = ["MAX_ID_LENGTH", "parse_member", "parse_message"]

MAX_ID_LENGTH = 1024


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string, not {shorten(value)}")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ConfigurationError(
            f"{what} must be at most {MAX_ID_LENGTH} printable characters, not {shorten(value)}"
        )
    return value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse(kind: object, ident: object, at: object, expires: object) -> Revocation | None:
    """A :class:`Revocation` from values read from Redis, or None when they are malformed."""
    if kind not in KINDS or not isinstance(ident, str) or not ident:
        return None
    if len(ident) > MAX_ID_LENGTH or not ident.isprintable():
        return None
    expiry = _number(expires)
    when = _number(at)
    if expiry is None or (kind == "sub") != (when is not None):
        return None
    return Revocation(kind, ident, expiry, when)


def parse_member(member: bytes | str, score: float) -> Revocation | None:
    """The entry a sorted-set member stands for, or None when it is malformed."""
    try:
        value = json.loads(member)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != 3:
        return None
    return _parse(value[0], value[1], value[2], score)


def parse_message(data: bytes | str) -> Revocation | None:
    """The entry a pub/sub message announces, or None when it is malformed."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != 4:
        return None
    return _parse(*value)
