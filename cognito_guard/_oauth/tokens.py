"""The tokens of a successful token request (:class:`TokenSet`), built from either answer format."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..claims import CognitoClaims
from ..errors import ClaimCheckError
from .wire import HttpCall, HttpReply, Step, VerifyIdToken, unavailable


@dataclass(frozen=True, kw_only=True, repr=False)
class TokenSet:
    """The tokens of one successful token request.

    ``expires_at`` is epoch seconds by the issuing client's ``clock`` (taken when the request was
    sent, so it errs early). ``refresh_token`` is the one Cognito returned, or after a refresh
    without rotation the one that was used. ``id_claims`` holds the verified claims of the ID
    token when the client was given an ``id_token_verifier``. The repr never shows a token.

    Example::

        tokens = client.refresh(refresh_token)
        if tokens.is_expired(leeway=60):
            tokens = client.refresh(tokens.refresh_token)
    """

    access_token: str
    id_token: str | None = None
    refresh_token: str | None = None
    token_type: str = "Bearer"
    expires_in: int
    expires_at: float
    id_claims: CognitoClaims | None = field(default=None, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def is_expired(self, leeway: float = 0) -> bool:
        """True when the access token expires within ``leeway`` seconds (or already has)."""
        return self.clock() + leeway >= self.expires_at

    @property
    def username(self) -> str | None:
        """The Cognito username, read (unverified) from the access or ID token; None for M2M."""
        for token, claim in ((self.access_token, "username"), (self.id_token, "cognito:username")):
            value = unverified_claims(token).get(claim) if token else None
            if isinstance(value, str) and value:
                return value
        return None

    def as_dict(self) -> dict[str, Any]:
        """The tokens as a JSON-serialisable dict, for persisting a session (contains secrets)."""
        return {
            "access_token": self.access_token,
            "id_token": self.id_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, clock: Callable[[], float] = time.time
    ) -> TokenSet:
        """Rebuild a :class:`TokenSet` saved with :meth:`as_dict`."""
        return cls(
            access_token=str(data["access_token"]),
            id_token=data.get("id_token"),
            refresh_token=data.get("refresh_token"),
            token_type=str(data.get("token_type", "Bearer")),
            expires_in=int(data["expires_in"]),
            expires_at=float(data["expires_at"]),
            clock=clock,
        )

    def __repr__(self) -> str:
        present = [
            name
            for name, value in (
                ("access", self.access_token),
                ("id", self.id_token),
                ("refresh", self.refresh_token),
            )
            if value
        ]
        return (
            f"TokenSet(tokens={present}, token_type={self.token_type!r}, "
            f"expires_in={self.expires_in}, expires_at={self.expires_at:.0f})"
        )


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload of a JWS without any verification; ``{}`` when it cannot be read."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _expires_in(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return 0
    return int(value)


def token_set(
    call: HttpCall,
    reply: HttpReply,
    raw: Mapping[str, Any],
    keys: tuple[str, str, str, str, str],
    sent_at: float,
    clock: Callable[[], float],
    previous_refresh_token: str | None,
) -> TokenSet:
    """Build a TokenSet from an answer whose fields are named by ``keys`` (OAuth or API style)."""
    access_key, id_key, refresh_key, type_key, expires_key = keys
    access = raw.get(access_key)
    if not isinstance(access, str) or not access:
        raise unavailable(call, reply, "the answer has no access token")
    expires_in = _expires_in(raw.get(expires_key))
    id_token = raw.get(id_key)
    refresh = raw.get(refresh_key)
    token_type = raw.get(type_key)
    return TokenSet(
        access_token=access,
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous_refresh_token,
        token_type=token_type if isinstance(token_type, str) and token_type else "Bearer",
        expires_in=expires_in,
        expires_at=sent_at + expires_in,
        clock=clock,
    )


OAUTH_KEYS = ("access_token", "id_token", "refresh_token", "token_type", "expires_in")
API_KEYS = ("AccessToken", "IdToken", "RefreshToken", "TokenType", "ExpiresIn")


def with_id_claims(
    tokens: TokenSet, verify_id: bool, nonce: str | None
) -> Generator[Step, Any, TokenSet]:
    if not verify_id or tokens.id_token is None:
        return tokens
    claims: CognitoClaims = yield VerifyIdToken(tokens.id_token)
    if nonce is not None and not hmac.compare_digest(
        str(claims.get("nonce", "")).encode(), nonce.encode()
    ):
        raise ClaimCheckError("the ID token's nonce is not the one sent to /oauth2/authorize")
    return TokenSet(
        access_token=tokens.access_token,
        id_token=tokens.id_token,
        refresh_token=tokens.refresh_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
        expires_at=tokens.expires_at,
        id_claims=claims,
        clock=tokens.clock,
    )
