"""Resource binding (RFC 8707 resource indicators) at the OAuth double, by Cognito's rules.

Cognito binds an access token to a resource only in the authorization code (and implicit)
grants, from a ``resource`` parameter of ``/oauth2/authorize``: one resource per request, a URL
under its callback-URL scheme rules (``https://``, ``http://localhost``, or a custom scheme such
as ``myapp://``), which becomes the access token's ``aud``; refreshed tokens keep it. A
client-credentials grant cannot be bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ._refusals import Refused

__all__ = ["aud_claim", "bind_resource", "narrow_resources"]


def _cognito_accepts(value: str) -> bool:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return False
    if "#" in value or " " in value or not value.isprintable() or not parts.scheme:
        return False
    if parts.scheme == "https":
        return bool(host)
    if parts.scheme == "http":
        return host == "localhost"
    return value.startswith(parts.scheme + "://")  # a custom scheme: myapp://...


def bind_resource(allowed: Sequence[str] | None, requested: Sequence[str]) -> tuple[str, ...]:
    """The resource an authorization request binds its access tokens to (``()`` for none).

    One resource per request, accepted by Cognito's URL rules, or, when the double was given
    ``allowed`` resources, one of those; otherwise ``invalid_target`` (RFC 8707 section 2).
    """
    if not requested:
        return ()
    if len(requested) > 1:
        raise Refused("bad_target", "one resource per authorization request")
    resource = requested[0]
    if allowed is not None:
        if resource not in allowed:
            raise Refused("bad_target", f"the client may not request the resource {resource}")
    elif not _cognito_accepts(resource):
        raise Refused(
            "bad_target", "the resource must be an https:// URL, http://localhost or myapp://"
        )
    return (resource,)


def narrow_resources(requested: Sequence[str], granted: tuple[str, ...]) -> tuple[str, ...]:
    """The resources of a token request: those ``requested``, all of the grant's, or none.

    A token request may name only resources its grant is bound to: Cognito binds a resource at
    ``/oauth2/authorize``, never at the token endpoint.
    """
    for resource in requested:
        if resource not in granted:
            raise Refused("bad_target", f"the grant is not bound to the resource {resource}")
    return tuple(dict.fromkeys(requested)) or granted


def aud_claim(resources: Sequence[str]) -> dict[str, Any]:
    """The ``aud`` claim of an access token for ``resources``: one string, or a list of several."""
    if not resources:
        return {}
    return {"aud": resources[0] if len(resources) == 1 else list(resources)}
