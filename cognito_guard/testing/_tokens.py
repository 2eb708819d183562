"""TokenIssuer: the keys, JWKS and tokens of a local Cognito user pool, knowing no server.

:class:`~cognito_guard.testing.LocalIssuer` adds the loopback servers on top of it; the servers
take a TokenIssuer, so minting never depends on serving.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.hashes import SHA256

from ..issuers import issuers_for, region_of
from ..verifier import CognitoVerifier
from ._keys import SigningKey, b64url, generate_rsa_key

__all__ = ["OMIT", "TokenIssuer", "attribute_claims", "stable_sub"]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()
"""Pass as a claim value to leave that claim out of a minted token: ``access_token(exp=OMIT)``."""


def stable_sub(user_pool_id: str, username: str) -> str:
    """The ``sub`` a local pool gives ``username``: derived from both, so stable across runs."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user_pool_id}/{username}"))


def attribute_claims(attributes: Mapping[str, str]) -> dict[str, Any]:
    """A user's attributes (strings, as Cognito's APIs return them) as ID-token claims: the
    ``*_verified`` ones as booleans; ``sub`` and ``email`` are the token's own arguments."""
    return {
        name: value == "true"
        if name.endswith("_verified") and value in ("true", "false")
        else value
        for name, value in attributes.items()
        if name not in ("sub", "email")
    }


_TIMES: dict[str, Any] = dict.fromkeys(("auth_time", "iat", "exp"))
"""Where the times stand in a token's claims (Cognito's order); ``_claims`` sets them."""


class TokenIssuer:
    """A local user pool's RSA keys, JWKS and tokens with Cognito's claims (no servers).

    Like Cognito it has two keys, one signing access tokens and one signing ID tokens. Every claim
    of a minted token can be overridden, or left out with :data:`OMIT`. Use it through
    :class:`~cognito_guard.testing.LocalIssuer`, which adds ``serve()`` and ``serve_oauth()``.

    Besides its own arguments, every token method takes these keyword options:

    * ``expires_in`` (3600): seconds from ``iat`` to ``exp``;
    * ``issued_at`` (None: the clock's time): ``iat`` and ``auth_time``;
    * ``claims`` (None): claims to add or override, for names that are not identifiers
      (``{"custom:tenant": "acme"}``); applied before the keyword overrides;
    * ``key`` and ``header`` (None), for the signed tokens: as for :meth:`sign` (the ID token's
      default key is :attr:`id_key`);
    * any other keyword: a claim to override, or to leave out with :data:`OMIT`.
    """

    def __init__(
        self,
        user_pool_id: str = "us-east-1_LocalPool1",
        client_id: str = "local0client0id0123456789a",
        *,
        issuer: str | None = None,
        keys: Sequence[RSAPrivateKey] | None = None,
        key_bits: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.user_pool_id = user_pool_id
        self.region = region_of(user_pool_id)
        self.client_id = client_id
        self.issuer = issuer or issuers_for(user_pool_id, "original")[0]
        self.clock = clock
        self._key_bits = key_bits
        private = list(keys) if keys else [generate_rsa_key(key_bits), generate_rsa_key(key_bits)]
        if len(private) == 1:
            private.append(private[0])
        self.access_key = SigningKey(f"access-{uuid.uuid4().hex[:12]}", private[0])
        self.id_key = SigningKey(f"id-{uuid.uuid4().hex[:12]}", private[1])
        self._published: list[SigningKey] = [self.access_key, self.id_key]

    # -- keys ----------------------------------------------------------------------------------

    @property
    def jwks(self) -> dict[str, Any]:
        """The JWKS document of the currently published keys."""
        return {"keys": [k.public_jwk() for k in self._published]}

    @property
    def published_kids(self) -> list[str]:
        """The ``kid`` of every published key."""
        return [k.kid for k in self._published]

    def rotate(self, private_key: RSAPrivateKey | None = None) -> SigningKey:
        """Publish a new key and sign new access and ID tokens with it; old keys stay published.

        Call :meth:`retire` to remove an old key, as Cognito does some time after a rotation.
        """
        key = SigningKey(
            f"rotated-{uuid.uuid4().hex[:12]}", private_key or generate_rsa_key(self._key_bits)
        )
        self._published.append(key)
        self.access_key = self.id_key = key
        return key

    def retire(self, kid: str) -> None:
        """Stop publishing the key ``kid``."""
        self._published = [k for k in self._published if k.kid != kid]

    # -- tokens --------------------------------------------------------------------------------

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        key: SigningKey | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign ``claims`` with RS256; ``header`` entries override or (with OMIT) remove fields."""
        key = key or self.access_key
        head: dict[str, Any] = {"kid": key.kid, "alg": "RS256"}
        head.update(header or {})
        head = {k: v for k, v in head.items() if v is not OMIT}
        body = {k: v for k, v in claims.items() if v is not OMIT}
        signing_input = (
            b64url(json.dumps(head, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(body, separators=(",", ":")).encode())
        )
        signature = key.private_key.sign(
            signing_input.encode("ascii"), padding.PKCS1v15(), SHA256()
        )
        return signing_input + "." + b64url(signature)

    def _claims(
        self,
        body: Mapping[str, Any],
        groups: Iterable[str] | None,
        /,
        *,
        expires_in: float = 3600,
        issued_at: float | None = None,
        claims: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """``body`` with its times set, ``cognito:groups`` first (as Cognito puts it), then
        ``claims``, then the keyword ``overrides``."""
        iat = int(self.clock() if issued_at is None else issued_at)
        finished: dict[str, Any] = {} if groups is None else {"cognito:groups": list(groups)}
        finished.update(body)
        finished.update({"auth_time": iat, "iat": iat, "exp": int(iat + expires_in)})
        finished.update(claims or {})
        finished.update(overrides)
        return finished

    def _signed(
        self,
        body: Mapping[str, Any],
        groups: Iterable[str] | None,
        default_key: SigningKey,
        /,
        *,
        key: SigningKey | None = None,
        header: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        """The claims of :meth:`_claims`, signed with ``key`` (else ``default_key``)."""
        return self.sign(
            self._claims(body, groups, **options), key=key or default_key, header=header
        )

    def access_token_claims(
        self,
        *,
        scopes: Iterable[str] = ("openid", "email"),
        groups: Iterable[str] | None = None,
        username: str = "alice",
        sub: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """The claims of a user's access token, as Cognito issues them.

        ``options``: ``expires_in``, ``issued_at``, ``claims`` and claim overrides (see the class).
        """
        body: dict[str, Any] = {
            "sub": sub or stable_sub(self.user_pool_id, username),
            "iss": self.issuer,
            "version": 2,
            "client_id": self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes),
            **_TIMES,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        return self._claims(body, groups, **options)

    def access_token(
        self, *, key: SigningKey | None = None, header: Mapping[str, Any] | None = None, **kw: Any
    ) -> str:
        """A signed user access token; see :meth:`access_token_claims` for the arguments."""
        return self.sign(self.access_token_claims(**kw), key=key, header=header)

    def id_token(
        self,
        *,
        groups: Iterable[str] | None = None,
        username: str = "alice",
        email: str = "alice@example.com",
        sub: str | None = None,
        **options: Any,
    ) -> str:
        """A signed ID token with Cognito's claims (``aud`` is the client id).

        ``options``: the token options and claim overrides of the class.
        """
        body: dict[str, Any] = {
            "sub": sub or stable_sub(self.user_pool_id, username),
            "email_verified": True,
            "iss": self.issuer,
            "cognito:username": username,
            "origin_jti": str(uuid.uuid4()),
            "aud": self.client_id,
            "event_id": str(uuid.uuid4()),
            "token_use": "id",
            **_TIMES,
            "jti": str(uuid.uuid4()),
            "email": email,
        }
        return self._signed(body, groups, self.id_key, **options)

    def m2m_token(
        self,
        *,
        scopes: Iterable[str] = ("orders/read",),
        client_id: str | None = None,
        **options: Any,
    ) -> str:
        """A client-credentials (machine-to-machine) access token: ``sub`` is the client id.

        ``options``: the token options and claim overrides of the class.
        """
        client = client_id or self.client_id
        body: dict[str, Any] = {
            "sub": client,
            "token_use": "access",
            "scope": " ".join(scopes),
            **_TIMES,
            "iss": self.issuer,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": client,
        }
        return self._signed(body, None, self.access_key, **options)

    # -- wiring --------------------------------------------------------------------------------

    def verifier(self, **options: Any) -> CognitoVerifier:
        """A :class:`CognitoVerifier` for this issuer; options override the defaults.

        Without ``jwks_uri`` it uses this issuer's current JWKS, preloaded (no network).
        """
        options.setdefault("client_id", self.client_id)
        options.setdefault("clock", self.clock)
        if "issuer" not in options and "user_pool_id" not in options:
            if self.issuer in issuers_for(self.user_pool_id):
                options["user_pool_id"] = self.user_pool_id
            else:
                options["issuer"] = self.issuer
        if "jwks_uri" not in options and "jwks" not in options:
            options["jwks"] = self.jwks
        return CognitoVerifier(**options)
