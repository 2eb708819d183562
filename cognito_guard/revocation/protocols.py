"""What a revocation list is to its users: the check the verifier makes, the writes sign-out
makes, and one entry of the list.

Example: ``isinstance(MemoryRevocations(), Revocations)  # True``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["KINDS", "Kind", "Revocation", "RevocationWrites", "Revocations"]

Kind = Literal["jti", "origin_jti", "sub"]
KINDS: tuple[Kind, ...] = ("jti", "origin_jti", "sub")


@runtime_checkable
class Revocations(Protocol):
    """What :class:`~cognito_guard.CognitoVerifier` needs of a revocation list.

    ``check`` raises :class:`~cognito_guard.RevokedTokenError` (or
    :class:`~cognito_guard.RevocationsUnavailableError`); ``is_revoked`` answers without raising.
    Both get the verified claims; the list judges its own freshness with its own clock.

    Example: ``isinstance(MemoryRevocations(), Revocations)  # True``
    """

    def check(self, claims: Mapping[str, Any]) -> None: ...

    def is_revoked(self, claims: Mapping[str, Any]) -> bool: ...


@runtime_checkable
class RevocationWrites(Protocol):
    """The writes ``CognitoTokenClient.sign_out`` and ``global_sign_out`` make.

    Both :class:`MemoryRevocations` and :class:`RedisRevocations` have them.

    Example: ``client.sign_out(tokens, revocations=RedisRevocations(url))``
    """

    def revoke_token(self, jti: str) -> None: ...

    def revoke_session(self, origin_jti: str) -> None: ...

    def sign_out_user(self, sub: str, at: float | None = None) -> None: ...

    async def arevoke_token(self, jti: str) -> None: ...

    async def arevoke_session(self, origin_jti: str) -> None: ...

    async def asign_out_user(self, sub: str, at: float | None = None) -> None: ...


@dataclass(frozen=True)
class Revocation:
    """One entry of the list: ``kind`` (``"jti"``, ``"origin_jti"`` or ``"sub"``), the ``id``,
    for ``sub`` the sign-out time ``at`` (epoch seconds), and when the entry ``expires``.

    Example: ``[(e.kind, e.id) for e in revocations.entries()]``
    """

    kind: Kind
    id: str
    expires: float
    at: float | None = None

    @property
    def member(self) -> str:
        """How the entry is stored in the Redis sorted set (its score is :attr:`expires`)."""
        return json.dumps([self.kind, self.id, self.at], separators=(",", ":"))

    @property
    def message(self) -> str:
        """How the entry is published on the pub/sub channel."""
        return json.dumps([self.kind, self.id, self.at, self.expires], separators=(",", ":"))
