"""What the commands read: the token from an argument or stdin, decoded without verification."""

from __future__ import annotations

import sys
from typing import Any

from .. import _jws
from ..errors import ConfigurationError, MalformedTokenError, NotAJWT

# Far above any real token (the verifier refuses more than 16 KiB by default): `decode` also
# shows the tokens the verifier refuses for their size.
_MAX_TOKEN_BYTES = 1024 * 1024


def _read_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, decoded by the library's one unverified decoder.

    Raises NotAJWT saying why: an encrypted JWE (a refresh token, five segments) is named as
    such; any other token gets the decoder's own words.
    """
    try:
        return _jws.decode_unverified(token, _MAX_TOKEN_BYTES)
    except MalformedTokenError as exc:
        if token.count(".") == 4:
            why = "this is an encrypted JWE (a Cognito refresh token?), not a signed JWT"
        else:
            why = str(exc)
    raise NotAJWT(why)


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
