"""Configuration values: the one check of each kind every setting uses (one string or several,
scope and group names, client ids, seconds, whole numbers)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from .errors import ConfigurationError

__all__ = ["client_ids", "names", "seconds", "strings", "whole"]


def strings(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """Normalise "one string or several" configuration values; a lone str is one item.

    None is ``()``; each item must be a non-empty string, else ConfigurationError naming ``what``.

    Example: ``strings("orders/read", "scopes")  # -> ("orders/read",)``
    """
    if value is None:
        return ()
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, (str, Iterable)):
        raise ConfigurationError(
            f"{what} must be a string or a list of strings, not {type(value).__name__}"
        )
    items = (value,) if isinstance(value, str) else tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigurationError(f"{what} must be non-empty strings, got {item!r}")
    return items


def names(value: str | Iterable[str] | None, what: str, fix: str) -> tuple[str, ...]:
    """Scope or group names: like :func:`strings`, and none may contain whitespace.

    Neither an OAuth scope (RFC 6749 section 3.3) nor a Cognito group name can hold a space, so
    ``"orders/read orders/write"`` is two names written as one, which no token could ever match.
    ``fix`` says how to write them in the caller's syntax, e.g. ``"scopes=['a', 'b']"``.
    """
    items = strings(value, what)
    for item in items:
        # isprintable() is False for every whitespace but " " and for control characters: two C
        # passes instead of a Python loop, as adapters build requirements per request too.
        if " " in item or not item.isprintable():
            parts = item.split()
            example = fix.format(", ".join(repr(part) for part in parts) or "'...'")
            raise ConfigurationError(
                f"{what}: {item!r} contains whitespace (or a control character), which no scope "
                "or group name can hold; "
                f"pass each name separately: {example}"
            )
    return items


def client_ids(value: str | Iterable[str] | None, what: str) -> tuple[str, ...]:
    """App client ids: like :func:`strings`, and none may hold several ids in one string."""
    items = strings(value, what)
    for item in items:
        # App client ids are letters, digits and '_'/'+' only: "a,b" or "a b" is two ids in one.
        if any(ch.isspace() or ch == "," for ch in item):
            raise ConfigurationError(
                f"{what}: {item!r} holds several client ids in one string; pass a list: "
                f"client_id=[{', '.join(repr(p) for p in item.replace(',', ' ').split())}]"
            )
    return items


def _shown(value: object) -> str:
    # A number is shown; anything else only by its type (a secret pasted in the wrong place
    # stays out of the message).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return f"a {type(value).__name__}"


def seconds(value: object, what: str, *, zero: bool = False) -> float:
    """``value`` as a duration: an int or float, finite, above 0 (or 0 too with ``zero=True``).

    Anything else (a bool, a string, NaN, infinity, a negative) is a ConfigurationError naming
    ``what``: NaN passes every comparison and infinity overflows a socket timeout, so both would
    fail far from where they were written.

    Example: ``seconds(timeout, "timeout")  # 2 -> 2.0``
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        bound = ">= 0" if zero else "> 0"
        raise ConfigurationError(f"{what} must be a number of seconds {bound}, not {_shown(value)}")
    return float(value)


def whole(value: object, what: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as a whole number (an int, not a bool) from ``minimum`` to ``maximum``.

    Example: ``whole(max_pending_logins, "max_pending_logins", minimum=1)``
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ConfigurationError(f"{what} must be a whole number {span}, not {_shown(value)}")
    return value
