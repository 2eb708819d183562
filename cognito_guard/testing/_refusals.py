"""Refused: why the OAuth double turns a request down, and how each of its styles says so.

The pool raises a :class:`Refused` of a neutral ``kind``; the OAuth endpoints answer it as an
OAuth error with an HTTP status, the user-pool JSON API as an AWS ``__type`` (always HTTP 400).
"""

from __future__ import annotations

__all__ = ["RENDER", "Refused"]


class Refused(Exception):
    """A request the double refuses; ``kind`` (a key of :data:`RENDER`) is style-neutral."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# kind -> (OAuth error, HTTP status, user-pool API __type)
RENDER: dict[str, tuple[str, int, str]] = {
    "bad_request": ("invalid_request", 400, "InvalidParameterException"),
    "bad_client": ("invalid_client", 401, "ResourceNotFoundException"),
    "bad_secret": ("invalid_client", 401, "NotAuthorizedException"),
    "bad_grant": ("invalid_grant", 400, "NotAuthorizedException"),
    "grant_not_allowed": ("unauthorized_client", 400, "InvalidParameterException"),
    "unknown_grant": ("unsupported_grant_type", 400, "InvalidParameterException"),
    "bad_scope": ("invalid_scope", 400, "InvalidParameterException"),
    "bad_target": ("invalid_target", 400, "InvalidParameterException"),
    "bad_token_type": ("unsupported_token_type", 400, "UnsupportedTokenTypeException"),
    "bad_token": ("invalid_token", 401, "NotAuthorizedException"),
    "bad_api_token": ("invalid_token", 401, "NotAuthorizedException"),
    "bad_revoke_client": ("invalid_client", 401, "UnauthorizedException"),
    "flow_not_enabled": ("unauthorized_client", 400, "InvalidParameterException"),
    "reused_grant": ("invalid_grant", 400, "RefreshTokenReuseException"),
}
