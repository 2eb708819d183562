"""Reading a JWKS document: which of its keys may verify RS256 signatures (no I/O, no policy)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from .errors import JWKSError, shorten

__all__ = ["parse_jwks"]

log = logging.getLogger("cognito_guard")

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")


def parse_jwks(
    document: Mapping[str, Any] | bytes, min_key_bits: int = 2048
) -> dict[str, RSAPublicKey]:
    """Parse a JWKS into ``{kid: RSAPublicKey}``, keeping only keys usable for RS256 signatures.

    Keys that are not RSA, are meant for encryption, name another algorithm, have no ``kid`` or
    a modulus under ``min_key_bits`` are skipped (logged at debug), not fatal. A ``kid`` that
    appears twice is ambiguous and dropped. Raises :class:`JWKSError` when the document is not a
    JWKS or no usable key is left.
    """
    if isinstance(document, (bytes, bytearray)):
        try:
            document = json.loads(bytes(document).decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise JWKSError("the JWKS is not valid UTF-8 JSON") from exc
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JWKSError("the JWKS is not a JSON object with a 'keys' list")
    keys: dict[str, RSAPublicKey] = {}
    duplicated: set[str] = set()
    for jwk in document["keys"]:
        key_or_reason = _usable_key(jwk, min_key_bits)
        if isinstance(key_or_reason, str):
            log.debug("ignoring a JWKS key: %s", key_or_reason)
            continue
        kid, key = key_or_reason
        if kid in keys or kid in duplicated:
            duplicated.add(kid)
            keys.pop(kid, None)
            continue
        keys[kid] = key
    if duplicated:
        log.warning("JWKS lists kid(s) %s more than once; ignoring them", sorted(duplicated))
    if not keys:
        raise JWKSError("the JWKS has no usable RS256 signing key")
    return keys


def _usable_key(jwk: object, min_key_bits: int) -> tuple[str, RSAPublicKey] | str:
    if not isinstance(jwk, Mapping):
        return "not a JSON object"
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return "no kid"
    if jwk.get("kty") != "RSA":
        return f"kid {shorten(kid)}: kty is not RSA"
    if jwk.get("use", "sig") != "sig":
        return f"kid {shorten(kid)}: use is not sig"
    if jwk.get("alg", "RS256") != "RS256":
        return f"kid {shorten(kid)}: alg is not RS256"
    if any(name in jwk for name in _PRIVATE_MEMBERS):
        # Any private member (p alone factors n) means the key is compromised: never trust it.
        return f"kid {shorten(kid)}: contains private key material"
    if any(op != "verify" for op in jwk.get("key_ops", ["verify"]) or ["?"]):
        return f"kid {shorten(kid)}: key_ops do not allow verify only"
    try:
        key = PyJWK(dict(jwk), algorithm="RS256").key
    except (PyJWTError, ValueError, TypeError, KeyError, OverflowError) as exc:
        return f"kid {shorten(kid)}: unreadable ({type(exc).__name__})"
    if not isinstance(key, RSAPublicKey):
        return f"kid {shorten(kid)}: not an RSA public key"
    if key.key_size < min_key_bits:
        return f"kid {shorten(kid)}: {key.key_size}-bit modulus is below {min_key_bits}"
    return kid, key
