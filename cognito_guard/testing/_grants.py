"""The records of the OAuth double's grants: sign-ins, rotated refresh tokens, codes; PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field

__all__ = [
    "Code",
    "Family",
    "Rotated",
    "looks_like_jws",
    "new_refresh_token",
    "pkce_matches",
]


@dataclass
class Family:
    """One sign-in: its user, scopes and granted resources; its tokens share ``origin``."""

    username: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...] = ()  # RFC 8707: the access tokens' aud unless a request narrows
    origin: str = field(default_factory=lambda: str(uuid.uuid4()))
    device_key: str | None = None  # with device tracking: every refresh through the API needs it


@dataclass
class Rotated:
    """A refresh token rotation retired: usable until ``until`` while ``replacement`` is unused."""

    family: Family
    until: float
    replacement: str


@dataclass
class Code:
    """An authorization code's grant, until it is redeemed."""

    family: Family
    redirect_uri: str
    expires_at: float
    code_challenge: str | None
    nonce: str | None


def looks_like_jws(token: str) -> bool:
    """True for a token shaped like a JWS (an access or ID token, not a refresh token)."""
    return token.count(".") == 2


def new_refresh_token() -> str:
    """A new opaque refresh token."""
    # Cognito's refresh tokens are opaque to clients (encrypted JWTs); so are these.
    return "rt-" + secrets.token_urlsafe(48)


def pkce_matches(code_verifier: str, code_challenge: str) -> bool:
    """True when ``code_verifier`` is the S256 verifier of ``code_challenge`` (RFC 7636)."""
    digest = hashlib.sha256(code_verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return bool(code_verifier) and hmac.compare_digest(challenge, code_challenge)
