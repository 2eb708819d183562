"""What the commands read: the token from an argument or stdin, decoded without verification."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from typing import Any

from ..errors import ConfigurationError


class NotAJWT(Exception):
    """The text is not a decodable JWT (the message says why; it never contains the text)."""


def _b64json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        raise NotAJWT(f"the {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise NotAJWT(f"the {what} is not a JSON object")
    return value


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWS, without checking anything. Raises :class:`NotAJWT`."""
    parts = token.split(".")
    if len(parts) == 5:
        raise NotAJWT("this is an encrypted JWE (a Cognito refresh token?), not a signed JWT")
    if len(parts) != 3:
        raise NotAJWT(f"a JWT has 3 dot-separated parts; this has {len(parts)}")
    return _b64json(parts[0], "header"), _b64json(parts[1], "claims")


def _read_token(value: str) -> str:
    text = sys.stdin.read() if value == "-" else value
    text = text.strip()
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    if not text and value == "-":
        raise ConfigurationError(
            "stdin was empty: pipe the token in (pbpaste | cognito-guard ...), or pass it "
            "instead of '-'"
        )
    if not text:
        raise ConfigurationError("no token given (pass it, or '-' to read it from stdin)")
    return text
