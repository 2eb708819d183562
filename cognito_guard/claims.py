"""CognitoClaims: a read-only view of verified token claims with typed accessors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .errors import InsufficientScopeError, MissingGroupError

__all__ = ["CognitoClaims"]


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class CognitoClaims(Mapping[str, Any]):
    """The claims of a verified Cognito token: a read-only mapping plus typed accessors.

    Raw claims stay reachable by name (``claims["custom:tenant"]``); the accessors cover the claims
    Cognito defines for access, ID and machine-to-machine tokens.

    Example::

        claims = verifier.verify(token)
        if "orders/write" in claims.scopes and "admins" in claims.groups:
            ...
        print(claims.sub, claims.username, claims.expires_at)
    """

    __slots__ = ("_claims", "_groups", "_scopes")

    def __init__(self, claims: Mapping[str, Any]) -> None:
        self._claims: Mapping[str, Any] = MappingProxyType(dict(claims))
        self._scopes: frozenset[str] | None = None
        self._groups: frozenset[str] | None = None

    @classmethod
    def _adopt(cls, claims: dict[str, Any]) -> CognitoClaims:
        """Wrap a dict nobody else holds without copying it (the verifier's fresh payload)."""
        self = cls.__new__(cls)
        self._claims = MappingProxyType(claims)
        self._scopes = self._groups = None
        return self

    def __getitem__(self, key: str) -> Any:
        return self._claims[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims)

    def __len__(self) -> int:
        return len(self._claims)

    def __repr__(self) -> str:
        return (
            f"CognitoClaims(sub={self.sub!r}, token_use={self.token_use!r}, "
            f"client_id={self.client_id!r})"
        )

    @property
    def sub(self) -> str:
        """The subject: the user's id, or the app client id for a machine-to-machine token."""
        return _as_str(self._claims.get("sub")) or ""

    @property
    def username(self) -> str | None:
        """``username`` (access token) or ``cognito:username`` (ID token); None for M2M tokens."""
        return _as_str(self._claims.get("username")) or _as_str(
            self._claims.get("cognito:username")
        )

    @property
    def token_use(self) -> str:
        """``"access"`` or ``"id"``."""
        return _as_str(self._claims.get("token_use")) or ""

    @property
    def client_id(self) -> str | None:
        """The app client: ``client_id`` for access tokens, ``aud`` for ID tokens."""
        client = _as_str(self._claims.get("client_id"))
        if client is not None:
            return client
        aud = self._claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return _as_str(aud)

    @property
    def issuer(self) -> str:
        """The ``iss`` claim (one of the configured issuers)."""
        return _as_str(self._claims.get("iss")) or ""

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes of an access token (empty for ID tokens)."""
        if self._scopes is None:
            scope = self._claims.get("scope")
            self._scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return self._scopes

    @property
    def groups(self) -> frozenset[str]:
        """The user's ``cognito:groups`` (empty when absent)."""
        if self._groups is None:
            groups = self._claims.get("cognito:groups")
            self._groups = (
                frozenset(g for g in groups if isinstance(g, str))
                if isinstance(groups, list)
                else frozenset()
            )
        return self._groups

    @property
    def issued_at(self) -> int | None:
        """``iat`` in epoch seconds."""
        return _as_int(self._claims.get("iat"))

    @property
    def expires_at(self) -> int:
        """``exp`` in epoch seconds (always present on a verified token)."""
        return _as_int(self._claims.get("exp")) or 0

    @property
    def auth_time(self) -> int | None:
        """When the user (or client) authenticated, in epoch seconds."""
        return _as_int(self._claims.get("auth_time"))

    @property
    def jti(self) -> str | None:
        """The token's unique id."""
        return _as_str(self._claims.get("jti"))

    @property
    def origin_jti(self) -> str | None:
        """The id of the sign-in (refresh token) that produced this token; None for M2M tokens."""
        return _as_str(self._claims.get("origin_jti"))

    @property
    def email(self) -> str | None:
        """The ``email`` attribute (ID tokens)."""
        return _as_str(self._claims.get("email"))

    @property
    def email_verified(self) -> bool:
        """True when ``email_verified`` says the pool verified :attr:`email`.

        Cognito sends it as the boolean ``true`` or, from some sources (a pre-token-generation
        trigger, an identity provider's attribute mapping), the string ``"true"``; anything else,
        or no claim, is False. An unverified email may belong to someone else: do not trust it.
        """
        value = self._claims.get("email_verified")
        return value is True or value == "true"

    @property
    def is_machine(self) -> bool:
        """True for a client-credentials (machine-to-machine) access token.

        Such a token is issued to an app client, not a user: ``sub`` equals ``client_id`` and it
        carries no ``username``.
        """
        return (
            self.token_use == "access"
            and "username" not in self._claims
            and self.sub != ""
            and self.sub == _as_str(self._claims.get("client_id"))
        )

    def require_scopes(self, *scopes: str) -> None:
        """Raise :class:`~cognito_guard.InsufficientScopeError` unless every scope is present.

        Example: ``claims.require_scopes("orders/read", "orders/write")``
        """
        have = self.scopes
        if not have.issuperset(scopes):
            missing = [scope for scope in scopes if scope not in have]
            raise InsufficientScopeError(
                f"the token lacks the scope(s) {missing}; it has {sorted(have)}", scopes
            )

    def require_groups(self, *groups: str) -> None:
        """Raise :class:`~cognito_guard.MissingGroupError` unless the user is in one of ``groups``.

        Example: ``claims.require_groups("admins", "support")``
        """
        if groups and self.groups.isdisjoint(groups):
            raise MissingGroupError(
                f"the user is in none of the groups {sorted(groups)}; "
                f"it is in {sorted(self.groups)}"
            )
