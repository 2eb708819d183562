"""CognitoVerifier: parse -> issuer -> key -> signature -> claim checks, sync and async.

``verify`` and ``averify`` share every step except how the key is obtained (a blocking fetch, or
one awaited on the event loop). Nothing from the token is trusted before its signature verifies,
except choosing which configured issuer's keys to try.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from cachetools import LRUCache
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from . import _hydration, _jws, _telemetry
from ._audience import audiences, matched_audience
from ._values import client_ids as _client_ids
from ._values import names as _names
from ._values import seconds as _seconds
from ._values import strings as _strings
from ._values import whole as _whole
from .claims import CognitoClaims
from .errors import (
    ClaimCheckError,
    CognitoGuardError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidClientError,
    InvalidIssuerError,
    InvalidTokenUseError,
    MalformedClaimsError,
    MalformedTokenError,
    NotYetValidError,
    TokenError,
    shorten,
)
from .issuers import IssuerForm, check_jwks_uri, issuers_for, jwks_uri_for, validate_user_pool_id
from .keys import KeyPolicy, KeyStore
from .revocation import Revocations

__all__ = ["CognitoVerifier", "CustomCheck", "TokenUse"]

log = logging.getLogger("cognito_guard")

TokenUse = Literal["access", "id"]
_MAX_LEEWAY = 300.0
CustomCheck = Callable[[CognitoClaims], object]
_CatchUp = Callable[[], Awaitable[None]]  # a revocation list's acatch_up


@dataclass(frozen=True, slots=True)
class _CacheEntry:
    claims: CognitoClaims
    key: RSAPublicKey
    store: KeyStore
    kid: str
    exp: float
    not_before: float  # the later of iat and nbf; -inf when neither is present


class CognitoVerifier:
    """Verifies Cognito access and ID tokens of one or more user pools.

    Example::

        verifier = CognitoVerifier(
            user_pool_id="eu-west-1_AbCdEf123",
            client_id="4a1b2c3d4e5f6g7h8i9j0k1l2m",
            token_use="access",
            scopes=["orders/read"],
        )
        claims = verifier.verify(token)          # or: await verifier.averify(token)
        print(claims.sub, claims.scopes)

    Args:
        user_pool_id: one pool id, or several (multi-tenant); the token's ``iss`` picks the pool
            before any key is fetched. Issuers and JWKS URLs are derived from it.
        client_id: the accepted app client id(s): ``client_id`` of access tokens, ``aud`` of ID
            tokens. Required unless ``allow_any_client=True``. For several pools, a mapping
            ``{pool_id: client id(s)}`` pairs each pool with its own clients (a token of one
            pool naming another pool's client is refused); ``user_pool_id`` then defaults to
            the mapping's pools.
        token_use: ``"access"``, ``"id"``, or ``"any"`` (or None) to accept either.
        audience: the resource indicator(s) (RFC 8707) an access token must name in ``aud``, as
            Cognito sets it for a client that asked for ``resource=...``; a string or several.
            None (default) demands no ``aud`` of access tokens. ID tokens are not judged by it
            (their ``aud`` is the app client, checked with ``client_id``): ``token_use="id"``
            with an audience is a ConfigurationError.
        scopes: scopes the token must all have (access tokens).
        groups: ``cognito:groups`` of which the user must be in at least one.
        leeway: seconds of clock skew tolerated on ``exp``, ``iat`` and ``nbf`` (at most 300).
        issuer_form: which issuer forms of a pool to accept: ``"both"`` (default), ``"original"``
            (``cognito-idp.{region}``) or ``"updated"`` (``issuer-cognito-idp.{region}``).
        issuer: override the issuer(s), for local and test issuers; their JWKS URL is
            ``{issuer}/.well-known/jwks.json`` unless ``jwks_uri`` is given.
        jwks_uri: override the JWKS URL of every issuer (https, or http on loopback only).
        jwks_fallback_uris: JWKS URLs tried in order when the first cannot be reached.
        jwks: a preloaded JWKS document: no network at all, or with ``jwks_uri`` a bundled JWKS
            (an unknown ``kid`` and the refresh after ``ttl`` are fetched from that URL).
        token_cache_size: how many verified tokens to remember (0 turns the cache off). A hit
            skips the RSA work but still checks the time claims against the current clock.
        custom_check: a plain function called with the claims after every other check, on cache
            hits too; raise (or return False) to reject, return None or True to accept. Any other
            return value (an empty set, a coroutine) is a ConfigurationError, never a yes.
        key_policy: TTLs, timeouts and limits of the JWKS fetching.
        max_token_bytes: longer tokens are rejected before any parsing.
        revocations: a revocation list (:class:`~cognito_guard.revocation.MemoryRevocations`,
            :class:`~cognito_guard.revocation.RedisRevocations`) checked after the signature
            and claims, on cache hits too: a revoked token raises
            :class:`~cognito_guard.RevokedTokenError`. Kept as the attribute ``revocations``
            (the list ``COGNITO_REVOCATIONS_URL`` built, with the settings): record sign-outs
            there, not in a second list (``BearerGuard.revocations`` checks it can).
            :meth:`averify` first awaits the list's ``acatch_up()``, if it has one
            (``RedisRevocations``: a stale copy catches up).
        clock: returns the current time in epoch seconds (injectable for tests).
        transport, async_transport: httpx transports for the JWKS fetches (proxies, tests).
    """

    def __init__(
        self,
        *,
        user_pool_id: str | Sequence[str] | None = None,
        client_id: str | Collection[str] | Mapping[str, str | Collection[str]] | None = None,
        token_use: TokenUse | Literal["any"] | None = "access",
        audience: str | Iterable[str] | None = None,
        scopes: str | Iterable[str] = (),
        groups: str | Iterable[str] = (),
        leeway: float = 0,
        allow_any_client: bool = False,
        issuer_form: IssuerForm = "both",
        issuer: str | Sequence[str] | None = None,
        jwks_uri: str | None = None,
        jwks_fallback_uris: Sequence[str] = (),
        jwks: Mapping[str, Any] | None = None,
        token_cache_size: int = 10_000,
        custom_check: CustomCheck | None = None,
        key_policy: KeyPolicy | None = None,
        max_token_bytes: int = 16 * 1024,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        revocations: Revocations | None = None,
    ) -> None:
        if token_use not in ("access", "id", "any", None):
            raise ConfigurationError(
                f"token_use must be 'access', 'id' or 'any' (None means 'any'), not {token_use!r}"
            )
        # "any" is the word the settings, the environment and the CLI use; None is its synonym.
        self.token_use: TokenUse | None = None if token_use == "any" else token_use
        self.audiences = audiences(audience)
        if self.audiences and self.token_use == "id":
            raise ConfigurationError(
                "audience applies to access tokens: an ID token's aud is the app client, "
                "checked with client_id"
            )
        if not isinstance(allow_any_client, bool):
            # allow_any_client="false" would be truthy: a string here must not open the door.
            raise ConfigurationError(
                f"allow_any_client must be True or False, not {allow_any_client!r}"
            )
        per_pool: dict[str, frozenset[str]] | None = None
        if isinstance(client_id, Mapping):
            per_pool = {
                validate_user_pool_id(pool): frozenset(_client_ids(ids, f"client_id[{pool!r}]"))
                for pool, ids in client_id.items()
            }
            if issuer is not None or not all(per_pool.values()):
                raise ConfigurationError(
                    "client_id as a mapping pairs user pool ids with their client ids: give "
                    "every pool at least one client, and no issuer"
                )
            if user_pool_id is None:
                user_pool_id = tuple(per_pool)
            elif set(_strings(user_pool_id, "user_pool_id")) != set(per_pool):
                raise ConfigurationError("the pools of client_id must be those of user_pool_id")
            self.client_ids = frozenset().union(*per_pool.values())
        else:
            self.client_ids = frozenset(_client_ids(client_id, "client_id"))
        if not self.client_ids and not allow_any_client:
            raise ConfigurationError(
                "client_id is required (pass allow_any_client=True to accept any app client)"
            )
        self.allow_any_client = allow_any_client
        self.scopes = _names(scopes, "scopes", "scopes=[{}]")
        self.groups = frozenset(_names(groups, "groups", "groups=[{}]"))
        if _seconds(leeway, "leeway", zero=True) > _MAX_LEEWAY:
            # Milliseconds taken for seconds would accept tokens expired for hours.
            raise ConfigurationError(
                f"leeway is in seconds and at most {_MAX_LEEWAY:.0f} (clock skew, not token "
                f"lifetime), not {leeway!r}"
            )
        self.leeway = float(leeway)
        _whole(token_cache_size, "token_cache_size")
        _whole(max_token_bytes, "max_token_bytes", minimum=512)
        if custom_check is not None and not callable(custom_check):
            raise ConfigurationError("custom_check must be callable")
        if inspect.iscoroutinefunction(custom_check) or inspect.iscoroutinefunction(
            getattr(custom_check, "__call__", None)  # noqa: B004 - an async __call__ method
        ):
            # Its coroutine would be truthy and never awaited: every token would pass.
            raise ConfigurationError(
                "custom_check must be a plain (not async) function: it runs inside verify and "
                "averify alike; do asynchronous checks in the application"
            )
        self._custom_check = custom_check
        if revocations is not None and not isinstance(revocations, Revocations):
            raise ConfigurationError("revocations must have check(claims) and is_revoked(claims)")
        self.revocations = revocations
        self._acatch_up: _CatchUp | None = getattr(revocations, "acatch_up", None)
        self._max_token_bytes = max_token_bytes
        self._clock = clock
        self._headers = _jws.HeaderCache()
        self._stores = self._build_stores(
            user_pool_id=user_pool_id,
            issuer_form=issuer_form,
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks_fallback_uris=jwks_fallback_uris,
            jwks=jwks,
            policy=key_policy or KeyPolicy(),
            transport=transport,
            async_transport=async_transport,
        )
        # The clients accepted per issuer: each pool's own, or all of them.
        self._clients = {iss: self.client_ids for iss in self._stores}
        for pool, ids in (per_pool or {}).items():
            for iss in issuers_for(pool, issuer_form):
                self._clients[iss] = ids
        # Not a time-aware cache (TLRUCache): a hit checks the entry's time claims against the
        # ``now`` verify read anyway, so a lookup that read the clock again (and took three
        # Python calls to do it) bought nothing; an expired entry is dropped when found.
        self._cache: LRUCache[str, _CacheEntry] | None = None
        if token_cache_size:
            self._cache = LRUCache(maxsize=token_cache_size)
        self._cache_lock = threading.Lock()

    def _build_stores(
        self,
        *,
        user_pool_id: str | Sequence[str] | None,
        issuer_form: IssuerForm,
        issuer: str | Sequence[str] | None,
        jwks_uri: str | None,
        jwks_fallback_uris: Sequence[str],
        jwks: Mapping[str, Any] | None,
        policy: KeyPolicy,
        transport: httpx.BaseTransport | None,
        async_transport: httpx.AsyncBaseTransport | None,
    ) -> dict[str, KeyStore]:
        pools = _strings(user_pool_id, "user_pool_id")
        issuers = _strings(issuer, "issuer")
        if pools and issuers:  # one would silently win over the other
            raise ConfigurationError("give user_pool_id or issuer, not both")
        if not issuers:
            if not pools:
                raise ConfigurationError("user_pool_id (or issuer) is required")
            issuers = tuple(
                iss
                for pool in pools
                for iss in issuers_for(validate_user_pool_id(pool), issuer_form)
            )
        for iss in issuers:
            if iss != iss.rstrip("/"):
                raise ConfigurationError(f"issuer {iss!r} must not end with '/'")
        fallbacks = tuple(
            check_jwks_uri(url) for url in _strings(jwks_fallback_uris, "jwks_fallback_uris")
        )
        if jwks_uri is not None:
            check_jwks_uri(jwks_uri)
        # Issuers whose keys come from the same URLs share one store, so one fetch serves both.
        stores: dict[str, KeyStore] = {}
        by_urls: dict[tuple[str, ...], KeyStore] = {}
        for iss in issuers:
            if jwks is not None:  # fetched only from URLs given with it (none: never fetched)
                given = () if jwks_uri is None else (jwks_uri,)
                urls: tuple[str, ...] = (*given, *(u for u in fallbacks if u not in given))
            else:
                primary = jwks_uri if jwks_uri is not None else check_jwks_uri(jwks_uri_for(iss))
                urls = (primary, *(u for u in fallbacks if u != primary))
            store = by_urls.get(urls)
            if store is None:
                store = KeyStore(
                    urls,
                    policy,
                    jwks=jwks,
                    clock=self._clock,
                    transport=transport,
                    async_transport=async_transport,
                )
                by_urls[urls] = store
            stores[iss] = store
        return stores

    @property
    def issuers(self) -> tuple[str, ...]:
        """The issuer strings this verifier accepts."""
        return tuple(self._stores)

    def key_store(self, issuer: str) -> KeyStore:
        """The key store used for tokens of ``issuer`` (for metrics and tests)."""
        return self._stores[issuer]

    def for_id_tokens(self) -> CognitoVerifier:
        """A verifier of the ID tokens of the same pools and app clients.

        It shares this verifier's issuers, key stores (one JWKS fetch serves both), clock, leeway
        and revocation list, with ``token_use="id"`` and none of the access-token demands
        (audience, scopes, groups, ``custom_check``) and no token cache of its own.

        Example: ``client = CognitoTokenClient(..., id_token_verifier=verifier.for_id_tokens())``
        """
        id_verifier = copy.copy(self)
        id_verifier.token_use = "id"
        id_verifier.audiences = ()
        id_verifier.scopes = ()
        id_verifier.groups = frozenset()
        id_verifier._custom_check = None
        id_verifier._cache = None
        id_verifier._cache_lock = threading.Lock()
        return id_verifier

    # -- start-up ------------------------------------------------------------------------------

    def hydrate(self) -> dict[str, int]:
        """Fetch every issuer's JWKS now, all at once: at start-up (a Lambda init phase).

        Returns the usable keys per issuer, ``{issuer: count}``; 0 for an issuer form whose
        JWKS answered 403 or 404 while its pool's other form had keys (logged, not raised).
        Raises :class:`~cognito_guard.KeysUnavailableError` when a pool has no usable key.

        Example: ``verifier.hydrate()  # {"https://cognito-idp...": 2, "https://issuer-...": 2}``
        """
        for flight in _hydration.start(self._stores, threads=True):
            flight.landed()
        return _hydration.judge(self._stores)

    async def ahydrate(self) -> dict[str, int]:
        """Like :meth:`hydrate`, without blocking the event loop (an ASGI lifespan start-up)."""
        for flight in _hydration.start(self._stores, threads=False):
            await flight.alanded()
        return _hydration.judge(self._stores)

    # -- the two entry points -----------------------------------------------------------------

    def verify(self, token: str) -> CognitoClaims:
        """Verify ``token`` and return its claims, fetching keys (blocking) when needed.

        Raises a :class:`~cognito_guard.TokenError` subclass when the token is rejected,
        :class:`~cognito_guard.KeysUnavailableError` when the keys cannot be had, and
        :class:`~cognito_guard.RevocationsUnavailableError` when a fail-closed revocation list
        is too stale to answer.
        """
        tel = _telemetry.ACTIVE  # None unless an OpenTelemetry SDK records
        start = tel.start() if tel is not None else 0.0
        hit = False
        try:
            now = self._clock()
            claims = self._cached(token, now)
            if claims is None:
                parsed, store = self._parse(token)
                key = store.get_key(parsed.kid, now)
                claims = self._finish(token, parsed, store, key, now)
            else:
                hit = True
        except Exception as exc:
            if tel is not None:
                tel.verified(start, exc, hit)
            raise
        if tel is not None:
            tel.verified(start, None, hit)
        return claims

    async def averify(self, token: str) -> CognitoClaims:
        """Like :meth:`verify`, but fetches keys without blocking the event loop."""
        tel = _telemetry.ACTIVE
        start = tel.start() if tel is not None else 0.0
        hit = False
        try:
            if self._acatch_up is not None:  # a stale revocation list catches up, awaited
                await self._acatch_up()
            now = self._clock()
            claims = self._cached(token, now)
            if claims is None:
                parsed, store = self._parse(token)
                key = await store.aget_key(parsed.kid, now)
                claims = self._finish(token, parsed, store, key, now)
            else:
                hit = True
        except Exception as exc:  # CancelledError is no verdict: not counted
            if tel is not None:
                tel.verified(start, exc, hit)
            raise
        if tel is not None:
            tel.verified(start, None, hit)
        return claims

    # -- the shared steps ---------------------------------------------------------------------

    def _parse(self, token: str) -> tuple[_jws.ParsedToken, KeyStore]:
        try:
            parsed = _jws.parse(token, self._max_token_bytes, self._headers)
        except CognitoGuardError:
            raise
        except Exception as exc:  # a parser bug must still surface as a rejection
            log.error("unexpected %s while parsing a token", type(exc).__name__)
            raise MalformedTokenError("the token could not be parsed") from exc
        iss = parsed.payload.get("iss")
        store = self._stores.get(iss) if isinstance(iss, str) else None
        if store is None:
            raise InvalidIssuerError(
                f"issuer {shorten(iss)} is not one of the configured issuers {list(self._stores)}"
            )
        return parsed, store

    def _finish(
        self,
        token: str,
        parsed: _jws.ParsedToken,
        store: KeyStore,
        key: RSAPublicKey,
        now: float,
    ) -> CognitoClaims:
        _jws.verify_signature(key, parsed)
        payload = parsed.payload
        exp, not_before = self._check_time(payload, now)
        claims = self._check_claims(payload)
        if self.revocations is not None:
            self.revocations.check(claims)
        cache = self._cache
        if cache is not None and now < exp:  # never remember a token past its exp
            entry = _CacheEntry(claims, key, store, parsed.kid, exp, not_before)
            with self._cache_lock:
                cache[token] = entry
        return claims

    def _check_time(self, payload: dict[str, Any], now: float) -> tuple[float, float]:
        """``exp`` (required), then ``iat`` and ``nbf`` (optional); returns exp and not-before."""
        exp = _jws.numeric_date(payload, "exp")
        if exp is None:
            raise MalformedClaimsError("the 'exp' claim is required", "exp")
        not_before = -math.inf
        for name in ("iat", "nbf"):
            value = _jws.numeric_date(payload, name)
            if value is not None and value > not_before:
                not_before = value
        self._check_window(exp, not_before, now)
        return exp, not_before

    def _check_window(self, exp: float, not_before: float, now: float) -> None:
        if now >= exp + self.leeway:
            raise ExpiredTokenError(
                f"the token expired {now - exp:.0f}s ago (leeway {self.leeway:g}s)"
            )
        if not_before > now + self.leeway:
            raise NotYetValidError(
                f"the token is valid from {not_before:.0f}, {not_before - now:.0f}s from now "
                f"(leeway {self.leeway:g}s)"
            )

    def _check_claims(self, payload: dict[str, Any]) -> CognitoClaims:
        token_use = payload.get("token_use")
        expected = self.token_use
        if token_use != expected if expected else token_use not in ("access", "id"):
            raise InvalidTokenUseError(
                f"expected a token_use of {expected or 'access or id'!r}, "
                f"got {shorten(token_use)}"
                + (" (an ID token where an access token is required)" if token_use == "id" else "")
            )
        if type(payload.get("sub")) is not str:
            raise MalformedClaimsError("the 'sub' claim is missing or not a string", "sub")
        _check_types(payload)
        if not self.allow_any_client:
            self._check_client(payload, token_use)
        if self.audiences and token_use == "access":
            matched_audience(payload.get("aud"), self.audiences)
        claims = CognitoClaims._adopt(payload)
        if self.scopes:
            claims.require_scopes(*self.scopes)
        if self.groups:
            claims.require_groups(*self.groups)
        if self._custom_check is not None:
            self._run_custom_check(claims)
        return claims

    def _check_client(self, payload: dict[str, Any], token_use: object) -> None:
        accepted = self._clients[payload["iss"]]  # iss chose the keys: it is a configured issuer
        if token_use == "access":
            client = payload.get("client_id")
            if not (isinstance(client, str) and client in accepted):
                raise InvalidClientError(
                    f"client_id {shorten(client)} is not an accepted app client"
                )
            return
        aud = payload.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not any(isinstance(a, str) and a in accepted for a in audiences):
            raise InvalidClientError(f"aud {shorten(aud)} is not an accepted app client")

    def _run_custom_check(self, claims: CognitoClaims) -> None:
        assert self._custom_check is not None  # noqa: S101 - guarded by the caller
        try:
            verdict = self._custom_check(claims)
        except TokenError:
            raise
        except Exception as exc:
            raise ClaimCheckError(f"custom check rejected the token: {type(exc).__name__}") from exc
        if verdict is False:  # returning False is the other natural way to say no
            raise ClaimCheckError("custom check returned False")
        if verdict is not None and verdict is not True:
            # An empty set, 0 or an un-awaited coroutine must not count as a yes: refuse to guess.
            if inspect.iscoroutine(verdict):
                verdict.close()
            raise ConfigurationError(
                "custom_check must return None, True or False (or raise), not "
                f"{type(verdict).__name__}"
            )

    # -- the verified-token cache -------------------------------------------------------------

    def _cached(self, token: str, now: float) -> CognitoClaims | None:
        cache = self._cache
        if cache is None or type(token) is not str:  # the parser rejects non-str tokens
            return None
        try:
            with self._cache_lock:
                entry = cache[token]  # indexing, not .get(): get() looks the key up twice
        except KeyError:
            return None
        if now >= entry.exp + self.leeway:  # expired for good: the full path will say so
            with self._cache_lock:
                cache.pop(token, None)
            return None
        # A hit is valid only while the key that verified it is still in a fresh JWKS, and the
        # time claims still hold now; otherwise the full path decides (and raises the right error).
        if entry.store.fresh_key(entry.kid, now) is not entry.key:
            return None
        if entry.not_before > now + self.leeway:
            return None
        if self._custom_check is not None:  # a deny-list must hold for cached tokens too
            self._run_custom_check(entry.claims)
        if self.revocations is not None:  # revoked after it was cached: refused all the same
            self.revocations.check(entry.claims)
        return entry.claims


def _check_types(payload: dict[str, Any]) -> None:
    scope = payload.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise MalformedClaimsError("the 'scope' claim is not a string", "scope")
    groups = payload.get("cognito:groups")
    if groups is not None:
        # A loop, not all(<generator>): the generator's frame costs more than the checks.
        if not isinstance(groups, list):
            raise MalformedClaimsError(_GROUPS_NOT_STRINGS, "cognito:groups")
        for group in groups:
            if not isinstance(group, str):
                raise MalformedClaimsError(_GROUPS_NOT_STRINGS, "cognito:groups")


_GROUPS_NOT_STRINGS = "the 'cognito:groups' claim is not a list of strings"
