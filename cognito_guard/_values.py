"""Configuration values given as one string or several: the one normaliser every setting uses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import ConfigurationError

__all__ = ["strings"]


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
