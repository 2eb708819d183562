"""The audience of access tokens (RFC 8707 resource indicators): the setting and the check.

A client that asks Cognito for an access token with ``resource=https://api.example.com`` (a
resource server identifier of the pool) gets a token whose ``aud`` is that resource: a string, or
a list of strings when several were asked for (RFC 9068). A verifier given ``audience=`` accepts
an access token only when its ``aud`` holds one of them; without ``audience=`` no ``aud`` is
demanded of access tokens (tokens requested without a resource have none).

No I/O, and nothing of cognito_guard but the errors and the value normaliser: the verifier and
the MCP integration both read the audience through here, and the token client checks the
``resource=`` of its requests with :func:`resource_indicator`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from ._values import strings
from .errors import ConfigurationError, InvalidAudienceError, shorten

__all__ = ["audiences", "matched_audience", "resource_indicator"]


def audiences(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """The ``audience=`` setting as a tuple; ``()`` for None.

    Each audience is a non-empty string without whitespace or control characters (Cognito's
    resource indicators are absolute URIs such as ``https://mcp.example.com``); a lone string is
    one audience, and an empty collection is refused rather than read as "none demanded".

    Example: ``audiences("https://mcp.example.com")  # -> ("https://mcp.example.com",)``
    """
    items = strings(value, "audience")
    if value is not None and not items:
        raise ConfigurationError(
            "audience is an empty list: name at least one audience, or pass None to demand none"
        )
    for item in items:
        # isprintable() is False for every whitespace but " " and for control characters.
        if " " in item or not item.isprintable():
            raise ConfigurationError(
                f"audience {item!r} contains whitespace (or a control character); a resource "
                "indicator is an absolute URI such as 'https://mcp.example.com': pass several "
                "as a list"
            )
    return items


def matched_audience(aud: object, accepted: Collection[str]) -> str:
    """The first entry of the ``aud`` claim that is one of ``accepted``.

    ``aud`` is a string or a list of strings; anything else, a missing ``aud`` (None) or one
    naming none of ``accepted`` raises :class:`~cognito_guard.InvalidAudienceError` with the
    expected and the actual value.

    Example: ``matched_audience(["https://a", "https://b"], ("https://b",))  # -> "https://b"``
    """
    if isinstance(aud, str):
        if aud in accepted:
            return aud
    elif isinstance(aud, list) and all(type(entry) is str for entry in aud):
        for entry in aud:
            if entry in accepted:
                return str(entry)
    else:
        actual = (
            "the token has no 'aud' claim"
            if aud is None
            else f"aud {shorten(aud)} is not a string or a list of strings"
        )
        raise InvalidAudienceError(f"{actual}; expected one of the audiences {sorted(accepted)}")
    raise InvalidAudienceError(
        f"aud {shorten(aud)} names none of the accepted audiences {sorted(accepted)}"
    )


def resource_indicator(value: object) -> str:
    """``value`` if it can be the ``resource`` of a token request (RFC 8707 section 2), else
    ConfigurationError.

    One absolute URI without a fragment (``https://api.example.com``; Cognito also takes custom
    schemes such as ``myapp://orders``) and without whitespace: Cognito binds a token to one
    resource per request, so a list is refused too.

    Example: ``resource_indicator("https://api.example.com")  # -> "https://api.example.com"``
    """
    if not isinstance(value, str):
        raise ConfigurationError(
            "resource must be one URL string such as 'https://api.example.com' (Cognito binds "
            f"a token to one resource per request), not {type(value).__name__}"
        )
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        scheme = ""
    if " " in value or not value.isprintable() or not scheme or "#" in value:
        raise ConfigurationError(
            f"resource {value!r} must be an absolute URI without a fragment or whitespace, "
            "such as 'https://api.example.com' (RFC 8707)"
        )
    if not value.startswith(scheme + "://"):
        raise ConfigurationError(
            f"resource {value!r} must be an absolute URI with a host, such as "
            "'https://api.example.com' (RFC 8707)"
        )
    return value
