"""Resource indicators (RFC 8707) at the OAuth double: which a request may name, and ``aud``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from ._refusals import Refused

__all__ = ["aud_claim", "grant_resources"]


def _is_resource_indicator(value: str) -> bool:
    # RFC 8707 section 2: an absolute URI without a fragment.
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return False
    return bool(scheme) and "#" not in value and " " not in value and value.isprintable()


def grant_resources(
    allowed: Sequence[str], requested: Sequence[str], granted: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The resources a token is for: those ``requested``, or all ``granted`` when none are.

    Each requested resource must be an absolute URI without a fragment, one of ``allowed`` (the
    app client's, as the identifiers of a Cognito pool's resource servers), and one of
    ``granted`` when the grant is bound to some; otherwise the request is refused with
    ``invalid_target`` (RFC 8707 section 2).
    """
    for resource in requested:
        if not _is_resource_indicator(resource):
            raise Refused("bad_target", "the resource must be an absolute URI, no fragment")
        if resource not in allowed:
            raise Refused("bad_target", f"the client may not request the resource {resource}")
        if granted and resource not in granted:
            raise Refused("bad_target", f"the grant does not cover the resource {resource}")
    return tuple(dict.fromkeys(requested)) or granted


def aud_claim(resources: Sequence[str]) -> dict[str, Any]:
    """The ``aud`` claim of an access token for ``resources``: one string, or a list of several."""
    if not resources:
        return {}
    return {"aud": resources[0] if len(resources) == 1 else list(resources)}
