"""Building blocks for hand-made hostile tokens (raw JSON, raw base64url, any signature)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.hashes import SHA256

from cognito_guard import CognitoVerifier
from cognito_guard.testing import OMIT, LocalIssuer, SigningKey, b64url

__all__ = [
    "B64URL",
    "CLIENT_ID",
    "ISSUER",
    "MAX_TOKEN",
    "NOW",
    "POOL_ID",
    "World",
    "b64url",
    "compact",
    "rs256",
    "segments_of",
    "sign_parts",
    "splice_member",
]

NOW = 1_700_000_000
"""The frozen "current time" of every issuer and verifier in this suite."""

POOL_ID = "us-east-1_LocalPool1"
CLIENT_ID = "local0client0id0123456789a"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
"""Pool A, the pool every verifier of this suite trusts."""
MAX_TOKEN = 16 * 1024
"""The verifier's default ``max_token_bytes``."""

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class World:
    """Everything a hostile-token builder may use."""

    pool: LocalIssuer
    other_pool: LocalIssuer
    attacker: SigningKey
    ec_key: ec.EllipticCurvePrivateKey

    @property
    def kid(self) -> str:
        """The ``kid`` of pool A's access-token key."""
        return self.pool.access_key.kid

    @property
    def private(self) -> RSAPrivateKey:
        """Pool A's access-token signing key."""
        return self.pool.access_key.private_key

    def header(self, **overrides: Any) -> dict[str, Any]:
        """A valid RS256 header of pool A's access key; ``OMIT`` drops a field."""
        head: dict[str, Any] = {"kid": self.kid, "alg": "RS256"}
        head.update(overrides)
        return {k: v for k, v in head.items() if v is not OMIT}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid access-token claims of pool A; ``OMIT`` drops a claim."""
        body = self.pool.access_token_claims(**overrides)
        return {k: v for k, v in body.items() if v is not OMIT}

    def verifier(self, kind: str = "access", *, cache: bool = True) -> CognitoVerifier:
        """A verifier of pool A with its JWKS preloaded (no network)."""
        size = 10_000 if cache else 0
        if kind == "access":
            return self.pool.verifier(token_cache_size=size)
        if kind == "id":
            return self.pool.verifier(token_use="id", token_cache_size=size)
        if kind == "scoped":
            return self.pool.verifier(scopes=["orders/write"], token_cache_size=size)
        if kind == "grouped":
            return self.pool.verifier(groups=["admins"], token_cache_size=size)
        raise ValueError(kind)


def compact(value: Any) -> bytes:
    """Compact JSON, as Cognito serialises it."""
    return json.dumps(value, separators=(",", ":")).encode()


def rs256(key: RSAPrivateKey, signing_input: str) -> str:
    """The base64url RS256 signature of ``signing_input``."""
    return b64url(key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), SHA256()))


def sign_parts(header: str, payload: str, key: RSAPrivateKey) -> str:
    """``header.payload.signature`` over the given (already encoded) segments, signed RS256."""
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{rs256(key, signing_input)}"


def splice_member(obj: dict[str, Any], raw_member: str) -> bytes:
    """The compact JSON of ``obj`` with ``raw_member`` (e.g. ``'"exp":NaN'``) inserted first."""
    text = compact(obj).decode()
    rest = text[1:]
    return ("{" + raw_member + ("," if rest != "}" else "") + rest).encode()


def segments_of(token: str) -> list[str]:
    """The dot-separated segments of a token."""
    return token.split(".")
