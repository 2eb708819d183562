"""RSA signing keys and their public JWKs, as a Cognito user pool publishes them."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["SigningKey", "b64url", "generate_rsa_key"]


def b64url(data: bytes) -> str:
    """base64url without padding, as JWS uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def generate_rsa_key(bits: int = 2048) -> RSAPrivateKey:
    """A fresh RSA private key (public exponent 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass(frozen=True)
class SigningKey:
    """A private key and the ``kid`` it is published under."""

    kid: str
    private_key: RSAPrivateKey

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK, the way Cognito publishes it."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "alg": "RS256",
            "e": _b64url_uint(numbers.e),
            "kid": self.kid,
            "kty": "RSA",
            "n": _b64url_uint(numbers.n),
            "use": "sig",
        }
