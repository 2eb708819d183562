"""Revocation and sign-out that every process honours: an in-memory list, shared through Redis.

Cognito's access and ID tokens stay valid for any JWT library until their ``exp``, even after
``/oauth2/revoke`` or ``GlobalSignOut``. A verifier given ``revocations=`` also refuses:

- one token, by its ``jti`` (:meth:`revoke_token`);
- one sign-in session, by the ``origin_jti`` its access and ID tokens share
  (:meth:`revoke_session`);
- every token of a user issued at or before a time, by ``sub`` and ``iat``
  (:meth:`sign_out_user`).

The check is a few dictionary lookups in memory, on every verification and every cache hit; no
network call per request. :class:`MemoryRevocations` keeps the list in one process (and for
tests); :class:`RedisRevocations` shares it between every process of a deployment::

    process A                       Redis                           process B
    revoke_session(o) --MULTI--> ZADD {prefix}revocations --PUBLISH--> local copy += o
       local copy += o           (score = expiry, pruned)    re-sync every few seconds
                                                                (catches a lost message)

Entries are only ever added, and each lives ``max_token_lifetime`` (a day by default, the longest
life of a Cognito access or ID token): after that every token it covers has expired anyway. A
local copy keeps each entry until its own expiry, even if Redis loses it.

Example::

    from cognito_guard.revocation import RedisRevocations

    revocations = RedisRevocations("rediss://app:secret@cache.example.com:6380/0")
    verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
    revocations.revoke_session(claims["origin_jti"])    # every process refuses it within ~1 s
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._redis import RedisConnection, describe, unavailable_errors
from .claims import CognitoClaims
from .errors import (
    ConfigurationError,
    RevocationsUnavailableError,
    RevokedTokenError,
    shorten,
)

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from redis.client import PubSub

__all__ = [
    "KINDS",
    "MemoryRevocations",
    "RedisRevocations",
    "Revocation",
    "RevocationWrites",
    "Revocations",
]

log = logging.getLogger("cognito_guard")

Kind = Literal["jti", "origin_jti", "sub"]
KINDS: tuple[Kind, ...] = ("jti", "origin_jti", "sub")
OnUnavailable = Literal["fail_closed", "fail_open"]

MAX_ID_LENGTH = 1024
# sign_out_user(at=...) may be this far ahead of our clock (another host's clock); further ahead
# it would lock the user out of signing in again until then.
AT_SKEW = 5.0
_BAD_LOG_LIMIT = 100  # distinct malformed values logged; beyond that they are ignored quietly


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


def _check_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string, not {shorten(value)}")
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ConfigurationError(
            f"{what} must be at most {MAX_ID_LENGTH} printable characters, not {shorten(value)}"
        )
    return value


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse(kind: object, ident: object, at: object, expires: object) -> Revocation | None:
    """A :class:`Revocation` from values read from Redis, or None when they are malformed."""
    if kind not in KINDS or not isinstance(ident, str) or not ident:
        return None
    if len(ident) > MAX_ID_LENGTH or not ident.isprintable():
        return None
    expiry = _number(expires)
    when = _number(at)
    if expiry is None or (kind == "sub") != (when is not None):
        return None
    return Revocation(kind, ident, expiry, when)


def parse_member(member: bytes | str, score: float) -> Revocation | None:
    """The entry a sorted-set member stands for, or None when it is malformed."""
    try:
        value = json.loads(member)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != 3:
        return None
    return _parse(value[0], value[1], value[2], score)


def parse_message(data: bytes | str) -> Revocation | None:
    """The entry a pub/sub message announces, or None when it is malformed."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != 4:
        return None
    return _parse(*value)


def _number_option(value: object, name: str, *, minimum: float = 0.0) -> float:
    number = _number(value)
    if number is None or number <= minimum:
        raise ConfigurationError(f"{name} must be a number of seconds > {minimum:g}")
    return number


def _staleness_options(max_staleness: object, resync_interval: object) -> tuple[float, float]:
    """(max_staleness, resync_interval): each as given, or its default.

    ``resync_interval`` defaults to 5 s, or half of ``max_staleness`` when that is shorter: two
    syncs fit in the staleness bound, so one slow or lost re-sync does not make a healthy list
    count as stale. So only an interval the caller chose can contradict the bound, and the
    refusal names what the caller passed.
    """
    staleness = (
        _MAX_STALENESS if max_staleness is None else _number_option(max_staleness, "max_staleness")
    )
    if resync_interval is None:
        return staleness, min(_RESYNC_INTERVAL, staleness / 2)
    interval = _number_option(resync_interval, "resync_interval")
    if interval >= staleness:
        bound = (
            f"the default max_staleness ({staleness:g}); pass a longer max_staleness too"
            if max_staleness is None
            else f"max_staleness={staleness:g}"
        )
        raise ConfigurationError(
            f"resync_interval={interval:g} must be shorter than {bound}: a healthy list would "
            "count as stale between two syncs"
        )
    return staleness, interval


class _LocalList:
    """The in-memory list and its check, shared by both implementations.

    Readers (every verification) take no lock: a dict lookup is atomic, and writers replace
    values, never mutate them. Writers hold ``_write_lock``.
    """

    def __init__(self, max_token_lifetime: float, clock: Callable[[], float]) -> None:
        self.max_token_lifetime = _number_option(max_token_lifetime, "max_token_lifetime")
        if not callable(clock):
            raise ConfigurationError("clock must be callable")
        self._clock = clock
        self._write_lock = threading.Lock()
        self._jti: dict[str, float] = {}  # id -> expiry
        self._origin: dict[str, float] = {}  # origin_jti -> expiry
        self._sub: dict[str, float] = {}  # sub -> the latest sign-out time
        self._sub_expiry: dict[str, float] = {}  # sub -> when that sign-out stops mattering
        # (expiry, kind, id) of every entry added or extended: pruning pops what is due, so it
        # costs the expired entries, not the whole list. Stale heap items are skipped.
        self._expiries: list[tuple[float, str, str]] = []
        self._bad_logged: set[str] = set()

    # -- the check ------------------------------------------------------------------------------

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True when the token with these (verified) claims is revoked.

        Example: ``revocations.is_revoked(verifier.verify(token))``
        """
        # The verifier's claims: read the dict underneath (Mapping.get costs a frame per call).
        payload = claims._claims if type(claims) is CognitoClaims else claims
        jti = payload.get("jti")
        if type(jti) is str and jti in self._jti:
            return True
        origin = payload.get("origin_jti")
        if type(origin) is str and origin in self._origin:
            return True
        sub = payload.get("sub")
        if type(sub) is str:
            cutoff = self._sub.get(sub)
            if cutoff is not None:
                iat = _number(payload.get("iat"))
                # No iat: nothing shows the token came after the sign-out, so it is covered.
                return iat is None or iat <= cutoff
        return False

    def _revoked_error(self, claims: Mapping[str, Any]) -> RevokedTokenError:
        payload = claims._claims if type(claims) is CognitoClaims else claims
        jti, origin = payload.get("jti"), payload.get("origin_jti")
        if type(jti) is str and jti in self._jti:
            why = f"its jti {shorten(jti)} was revoked"
        elif type(origin) is str and origin in self._origin:
            why = f"its session (origin_jti {shorten(origin)}) was revoked"
        else:
            why = f"its user {shorten(payload.get('sub'))} was signed out after it was issued"
        return RevokedTokenError(f"the token was revoked: {why}")

    # -- the entries ----------------------------------------------------------------------------

    def _apply(self, entry: Revocation) -> bool:
        """Add ``entry`` to the local copy; False when it adds nothing (known or expired)."""
        if entry.expires <= self._clock():
            return False
        with self._write_lock:
            if entry.kind == "sub":
                assert entry.at is not None  # noqa: S101 - _parse and the writers ensure it
                if entry.at <= self._sub.get(entry.id, -math.inf):
                    return False
                # Expiry first: a reader seeing the new cutoff must not see the old expiry pruned.
                expires = max(entry.expires, self._sub_expiry.get(entry.id, -math.inf))
                self._sub_expiry[entry.id] = expires
                self._sub[entry.id] = entry.at
                heapq.heappush(self._expiries, (expires, "sub", entry.id))
                return True
            table = self._jti if entry.kind == "jti" else self._origin
            if entry.expires <= table.get(entry.id, -math.inf):
                return False
            known = entry.id in table
            table[entry.id] = entry.expires
            heapq.heappush(self._expiries, (entry.expires, entry.kind, entry.id))
            return not known

    def _prune(self, now: float) -> int:
        """Drop the local entries that have expired; returns how many."""
        removed = 0
        with self._write_lock:
            heap = self._expiries
            while heap and heap[0][0] <= now:
                expires, kind, ident = heapq.heappop(heap)
                table = {"jti": self._jti, "origin_jti": self._origin}.get(kind, self._sub_expiry)
                if table.get(ident) != expires:
                    continue  # extended (or already gone) since this item was pushed
                del table[ident]
                if table is self._sub_expiry:
                    del self._sub[ident]
                removed += 1
        return removed

    def entries(self) -> list[Revocation]:
        """The live entries of the local copy, soonest to expire first.

        Example: ``[(e.kind, e.id) for e in revocations.entries()]``
        """
        now = self._clock()
        with self._write_lock:
            found = [Revocation("jti", i, e) for i, e in self._jti.items()]
            found += [Revocation("origin_jti", i, e) for i, e in self._origin.items()]
            found += [Revocation("sub", i, self._sub_expiry[i], at) for i, at in self._sub.items()]
        return sorted((e for e in found if e.expires > now), key=lambda e: (e.expires, e.id))

    def __len__(self) -> int:
        return len(self._jti) + len(self._origin) + len(self._sub)

    def _log_bad(self, value: bytes | str, where: str) -> None:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        key = text[:200]
        if key in self._bad_logged or len(self._bad_logged) >= _BAD_LOG_LIMIT:
            return
        self._bad_logged.add(key)
        log.warning("ignored a malformed revocation %s: %s", where, shorten(key))

    # -- building entries from the public arguments --------------------------------------------

    def _entry(self, kind: Kind, ident: object, at: float | None = None) -> Revocation:
        now = self._clock()
        if kind != "sub":
            return Revocation(kind, _check_id(ident, kind), now + self.max_token_lifetime)
        sub = _check_id(ident, "sub")
        when = now if at is None else _number(at)
        if when is None:
            raise ConfigurationError(f"at must be epoch seconds (a number), not {shorten(at)}")
        if when > now + AT_SKEW:
            raise ConfigurationError(
                f"at lies {when - now:.0f}s in the future: a sign-out covers tokens already "
                f"issued (at most {AT_SKEW:g}s ahead of this clock is accepted)"
            )
        return Revocation("sub", sub, when + self.max_token_lifetime, when)


class MemoryRevocations(_LocalList):
    """A revocation list in this process's memory: for one process, and for tests.

    Example::

        revocations = MemoryRevocations()
        verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
        revocations.sign_out_user(claims.sub)          # the user's tokens issued so far fail

    Args:
        max_token_lifetime: seconds an entry is kept (the longest access/ID token lifetime).
        clock: returns epoch seconds (injectable for tests).
    """

    def __init__(
        self, *, max_token_lifetime: float = 86400, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(max_token_lifetime, clock)

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`~cognito_guard.RevokedTokenError` when the token is revoked."""
        if self.is_revoked(claims):
            raise self._revoked_error(claims)

    def revoke_token(self, jti: str) -> None:
        """Refuse exactly one token, by its ``jti``."""
        self._record(self._entry("jti", jti))

    def revoke_session(self, origin_jti: str) -> None:
        """Refuse every token of one sign-in session, by the ``origin_jti`` they share."""
        self._record(self._entry("origin_jti", origin_jti))

    def sign_out_user(self, sub: str, at: float | None = None) -> None:
        """Refuse every token of user ``sub`` with ``iat`` at or before ``at`` (default: now)."""
        self._record(self._entry("sub", sub, at))

    async def arevoke_token(self, jti: str) -> None:
        """Async :meth:`revoke_token`."""
        self.revoke_token(jti)

    async def arevoke_session(self, origin_jti: str) -> None:
        """Async :meth:`revoke_session`."""
        self.revoke_session(origin_jti)

    async def asign_out_user(self, sub: str, at: float | None = None) -> None:
        """Async :meth:`sign_out_user`."""
        self.sign_out_user(sub, at)

    def _record(self, entry: Revocation) -> None:
        self._prune(self._clock())
        self._apply(entry)

    def close(self) -> None:
        """Nothing to stop; here so that both implementations are used alike."""

    def __enter__(self) -> MemoryRevocations:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MemoryRevocations(entries={len(self)})"


# -- Redis --------------------------------------------------------------------------------------


class _RedisList:
    """The Redis side of the list, without a thread: the keys, one write, one read.

    ``{prefix}revocations`` is a sorted set of :attr:`Revocation.member` scored by expiry;
    ``{prefix}revocations:version`` counts the writes made through here, each of which also
    publishes its entry (:attr:`Revocation.message`) on the channel ``{prefix}revocations``, in
    the same transaction. A re-sync that saw as many messages as the counter advanced lost
    none, and skips the full read.
    """

    def __init__(self, conn: RedisConnection, prefix: str) -> None:
        self.conn = conn
        self.key = f"{prefix}revocations"
        self.version_key = f"{prefix}revocations:version"
        self.channel = f"{prefix}revocations"

    def _queue_write(self, pipe: Any, entry: Revocation, now: float, lifetime: float) -> None:
        horizon = math.ceil(now + lifetime)
        pipe.zadd(self.key, {entry.member: entry.expires}, gt=True)  # GT: adds, or extends
        pipe.zremrangebyscore(self.key, "-inf", now)
        # The set lives as long as its longest entry: NX sets a TTL on a new key, GT extends it.
        for key in (self.key, self.version_key):
            pipe.expireat(key, horizon, nx=True)
            pipe.expireat(key, horizon, gt=True)
        pipe.incr(self.version_key)
        pipe.publish(self.channel, entry.message)

    def write(self, entry: Revocation, now: float, lifetime: float) -> None:
        """Record ``entry`` and announce it, in one transaction."""
        pipe = self.conn.sync.pipeline(transaction=True)
        self._queue_write(pipe, entry, now, lifetime)
        pipe.execute()

    async def awrite(
        self, client: redis.asyncio.Redis, entry: Revocation, now: float, lifetime: float
    ) -> None:
        """Like :meth:`write`, on an asyncio client."""
        pipe = client.pipeline(transaction=True)
        self._queue_write(pipe, entry, now, lifetime)
        await pipe.execute()

    def version(self, now: float) -> int | None:
        """The write counter (None when absent or not a number), after pruning what expired."""
        pipe = self.conn.sync.pipeline(transaction=False)
        pipe.zremrangebyscore(self.key, "-inf", now)
        pipe.get(self.version_key)
        _, raw = pipe.execute()
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    def read(self, now: float) -> list[tuple[bytes, float]]:
        """Every live (member, expiry) pair."""
        rows: Any = self.conn.sync.zrangebyscore(self.key, f"({now}", "+inf", withscores=True)
        return [(member, float(score)) for member, score in rows]


class RedisRevocations(_LocalList):
    """A revocation list shared by every process through Redis (or Valkey, ElastiCache, ...).

    A background thread keeps the local copy current: it subscribes to the channel, loads the
    whole list, applies each announced entry, and re-synchronises every ``resync_interval``
    seconds: a cheap check of the write counter against the messages received, and a full read
    when a message was lost (while reconnecting) or at least every 12 re-syncs. After an error
    it reconnects with back-off; the local copy keeps serving meanwhile, and keeps every entry it
    has until that entry expires, even if Redis loses it.

    After ``max_staleness`` seconds without a successful sync (or before the first one), the
    check raises :class:`~cognito_guard.RevocationsUnavailableError` (``on_unavailable=
    "fail_closed"``, the default: HTTP 503), or accepts and logs one warning per outage
    (``"fail_open"``). A token already on the local list is refused either way.

    Writes go to Redis first and to the local copy at once; a write Redis does not take raises
    :class:`~cognito_guard.RevocationsUnavailableError` (the entry is still refused by this
    process): a revocation is never dropped silently.

    Example::

        with RedisRevocations("redis://127.0.0.1:6379/0") as revocations:
            verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
            revocations.revoke_session(origin_jti)
            await revocations.arevoke_token(jti)

    Args:
        url: ``redis://``, ``rediss://`` (TLS) or ``unix://``; credentials in it are never shown.
        client: a ``redis.Redis`` of your own instead of ``url`` (``async_client`` optionally).
        prefix: the key and channel namespace.
        max_token_lifetime: seconds an entry is kept (the longest access/ID token lifetime).
        max_staleness: seconds without a sync after which ``on_unavailable`` applies
            (default: 60).
        on_unavailable: ``"fail_closed"`` (refuse with 503) or ``"fail_open"`` (accept, warn).
        resync_interval: seconds between re-synchronisations, shorter than ``max_staleness``
            (default: 5, or half of ``max_staleness`` when that is less than 10).
        timeout: connect and socket timeout of the Redis clients made from ``url``.
        start_timeout: how long the constructor waits for the first load (it carries on in the
            background if that fails).
        clock: returns epoch seconds: expiries and staleness (injectable for tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "cognito_guard:",
        max_token_lifetime: float = 86400,
        max_staleness: float | None = None,
        on_unavailable: OnUnavailable = "fail_closed",
        resync_interval: float | None = None,
        timeout: float = 2.0,
        start_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_token_lifetime, clock)
        if not isinstance(prefix, str) or not prefix.isprintable():
            raise ConfigurationError("prefix must be a string of printable characters")
        self.max_staleness, self.resync_interval = _staleness_options(
            max_staleness, resync_interval
        )
        if on_unavailable not in ("fail_closed", "fail_open"):
            raise ConfigurationError(
                f"on_unavailable must be 'fail_closed' or 'fail_open', not {on_unavailable!r}"
            )
        self.on_unavailable: OnUnavailable = on_unavailable
        self.prefix = prefix
        self._conn = RedisConnection(
            url,
            client=client,
            async_client=async_client,
            timeout=timeout,
            retries=1,  # one quick retry (a dropped idle connection); the thread backs off itself
            what="RedisRevocations",
        )
        self._redis = _RedisList(self._conn, prefix)
        self._errors = redis_failures()
        self._last_sync: float | None = None  # by self._clock; None until the first load
        self._version: int | None = None  # the write counter at the last sync
        self._messages = 0  # messages received since the last sync
        self._syncs_since_full = 0
        self._outage = False  # between a failed sync and the next good one
        self._warned_open = False
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self.syncs = 0  # successful syncs (load or re-sync), for tests and metrics
        self.loads = 0  # of which full reads of the list
        self._thread = self._start_thread()
        _LIVE.add(self)
        wait = self._conn.timeout * 2 if start_timeout is None else start_timeout
        if not self._synced.wait(max(0.0, wait)):
            log.warning(
                "RedisRevocations could not load the list from %s yet; "
                "retrying in the background (%s until then)",
                self._conn.url,
                "refusing tokens" if on_unavailable == "fail_closed" else "accepting tokens",
            )

    # -- the check ------------------------------------------------------------------------------

    @property
    def last_sync(self) -> float | None:
        """When (by ``clock``) the local copy was last confirmed current; None before that."""
        return self._last_sync

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise when the token is revoked, or when the list is too stale to say (fail_closed)."""
        if self.is_revoked(claims):
            raise self._revoked_error(claims)
        last = self._last_sync
        if last is not None and self._clock() - last <= self.max_staleness:
            return
        self._unavailable()

    def _unavailable(self) -> None:
        last = self._last_sync
        age = (
            "never synchronised"
            if last is None
            else f"last synchronised {self._clock() - last:.0f}s ago"
        )
        if self.on_unavailable == "fail_closed":
            raise RevocationsUnavailableError(
                f"the revocation list from {self._conn.url} is {age} "
                f"(max_staleness {self.max_staleness:g}s)",
                retry_after=int(min(self.resync_interval, 30)) + 1,
            )
        with self._state_lock:
            warned, self._warned_open = self._warned_open, True
        if not warned:
            log.warning(
                "the revocation list from %s is %s; accepting tokens "
                "(on_unavailable='fail_open') until Redis is back",
                self._conn.url,
                age,
            )

    # -- writes ---------------------------------------------------------------------------------

    def revoke_token(self, jti: str) -> None:
        """Refuse exactly one token, by its ``jti``, in every process."""
        self._record(self._entry("jti", jti))

    def revoke_session(self, origin_jti: str) -> None:
        """Refuse every token of one sign-in session (by ``origin_jti``), in every process."""
        self._record(self._entry("origin_jti", origin_jti))

    def sign_out_user(self, sub: str, at: float | None = None) -> None:
        """Refuse every token of user ``sub`` with ``iat`` at or before ``at`` (default: now)."""
        self._record(self._entry("sub", sub, at))

    async def arevoke_token(self, jti: str) -> None:
        """Async :meth:`revoke_token` (does not block the event loop)."""
        await self._arecord(self._entry("jti", jti))

    async def arevoke_session(self, origin_jti: str) -> None:
        """Async :meth:`revoke_session`."""
        await self._arecord(self._entry("origin_jti", origin_jti))

    async def asign_out_user(self, sub: str, at: float | None = None) -> None:
        """Async :meth:`sign_out_user`."""
        await self._arecord(self._entry("sub", sub, at))

    def _record(self, entry: Revocation) -> None:
        self._apply(entry)  # this process refuses it at once, whatever Redis says
        try:
            self._redis.write(entry, self._clock(), self.max_token_lifetime)
        except self._errors as exc:
            raise self._write_failed(entry, exc) from None

    async def _arecord(self, entry: Revocation) -> None:
        self._apply(entry)
        try:
            if self._conn.has_async:
                client = self._conn.for_loop()
                await self._redis.awrite(client, entry, self._clock(), self.max_token_lifetime)
            else:
                await asyncio.to_thread(
                    self._redis.write, entry, self._clock(), self.max_token_lifetime
                )
        except self._errors as exc:
            raise self._write_failed(entry, exc) from None

    def _write_failed(self, entry: Revocation, exc: BaseException) -> RevocationsUnavailableError:
        why = describe(exc, self._conn.secrets)
        log.error(
            "the revocation of %s %s was NOT recorded in %s (%s); only this "
            "process refuses it: retry",
            entry.kind,
            shorten(entry.id),
            self._conn.url,
            why,
        )
        return RevocationsUnavailableError(
            f"the revocation of {entry.kind} {shorten(entry.id)} was not recorded in "
            f"{self._conn.url} ({why}); other processes do not refuse it: retry"
        )

    # -- the background thread ------------------------------------------------------------------

    def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while not self._stop.is_set():
            pubsub = None
            try:
                # Through a typed name: redis-py types pubsub() from 8.2 on, older releases not.
                open_pubsub: Callable[..., PubSub] = self._conn.sync.pubsub
                pubsub = open_pubsub(ignore_subscribe_messages=True)
                # Subscribe before loading: an entry written in between arrives as a message.
                pubsub.subscribe(self._redis.channel)
                self._sync(full=True)
                backoff = _MIN_BACKOFF
                next_sync = time.monotonic() + self.resync_interval
                while not self._stop.is_set():
                    wait = min(_POLL, max(0.0, next_sync - time.monotonic()))
                    message = pubsub.get_message(timeout=wait)
                    if message is not None:
                        self._on_message(message)
                    if time.monotonic() >= next_sync:
                        self._sync(full=False)
                        next_sync = time.monotonic() + self.resync_interval
            except self._errors as exc:
                self._on_error(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except Exception as exc:  # a bug must not end the thread: the list would go stale
                log.error(
                    "unexpected %s in the revocation sync; restarting it",
                    type(exc).__name__,
                )
                self._stop.wait(_MAX_BACKOFF)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):  # closing a broken connection may fail
                        pubsub.close()

    def _sync(self, *, full: bool) -> None:
        now = self._clock()
        version = self._redis.version(now)
        messages, self._messages = self._messages, 0
        previous, self._version = self._version, version
        self._syncs_since_full += 1
        # Every write bumps the counter and publishes once: as many messages as the counter
        # moved means none was lost. Otherwise (a reconnect, a flush, a message still in flight)
        # read everything; and now and then anyway, for writers that bypass the counter.
        lost = version is None or previous is None or version - previous != messages
        if full or lost or self._syncs_since_full >= _FULL_READ_EVERY:
            rows = self._redis.read(now)
            for member, score in rows:
                entry = parse_member(member, score)
                if entry is None:
                    self._log_bad(member, "entry in Redis")
                else:
                    self._apply(entry)
            self.loads += 1
            self._syncs_since_full = 0
        self._prune(now)
        self._last_sync = now
        self.syncs += 1
        with self._state_lock:
            recovered, self._outage = self._outage, False
            self._warned_open = False
        if recovered:
            log.warning(
                "the revocation list is synchronised again with %s (%d entries)",
                self._conn.url,
                len(self),
            )
        self._synced.set()

    def _on_message(self, message: Mapping[str, Any]) -> None:
        if message.get("type") != "message":
            return
        self._messages += 1
        data = message.get("data")
        entry = parse_message(data) if isinstance(data, (bytes, str)) else None
        if entry is None:
            self._log_bad(data if isinstance(data, (bytes, str)) else repr(data), "message")
            return
        self._apply(entry)

    def _on_error(self, exc: BaseException) -> None:
        with self._state_lock:
            first, self._outage = not self._outage, True
        if first:
            log.warning(
                "the revocation list lost Redis at %s (%s); serving the local "
                "copy of %d entries and reconnecting",
                self._conn.url,
                describe(exc, self._conn.secrets),
                len(self),
            )

    # -- lifecycle ------------------------------------------------------------------------------

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="cognito_guard-revocations", daemon=True)
        thread.start()
        return thread

    def _after_fork(self) -> None:
        """In a forked child (gunicorn ``--preload``, uWSGI): only the forking thread survives,
        so the sync thread is started again, with fresh locks. The copy so far is kept."""
        if self._stop.is_set():
            return
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._conn.after_fork()
        self._thread = self._start_thread()

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """Block until the first load has completed (or ``timeout``); True when it has."""
        return self._synced.wait(timeout)

    def close(self) -> None:
        """Stop the background thread and close the Redis client made from the URL."""
        self._stop.set()
        _LIVE.discard(self)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._conn.timeout + 1)
        self._conn.close()

    async def aclose(self) -> None:
        """Close the running event loop's asyncio client, then everything :meth:`close` stops.

        An asyncio client belongs to its loop: close it there before that loop ends.
        """
        await self._conn.aclose()
        await asyncio.to_thread(self.close)

    def __enter__(self) -> RedisRevocations:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RedisRevocations({self._conn.url!r}, prefix={self.prefix!r}, entries={len(self)}, "
            f"on_unavailable={self.on_unavailable!r})"
        )


# Every open RedisRevocations, so that a forked child restarts their threads (weakly held: an
# abandoned list is not kept alive by this).
_LIVE: weakref.WeakSet[RedisRevocations] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for revocations in list(_LIVE):
        revocations._after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)

_MAX_STALENESS = 60.0
_RESYNC_INTERVAL = 5.0  # the default, when max_staleness leaves room for it
_FULL_READ_EVERY = 12  # re-syncs: with the default interval, a full read at least every minute
_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 2.0
_POLL = 0.05  # how often the thread looks at the stop flag between messages


redis_failures = unavailable_errors
"""The exceptions meaning "Redis did not do it" (kept under this name for the CLI)."""


def read_entries(
    conn: RedisConnection, prefix: str = "cognito_guard:", now: float | None = None
) -> tuple[list[Revocation], int]:
    """The live entries stored in Redis under ``prefix``, and how many were malformed."""
    store = _RedisList(conn, prefix)
    rows = store.read(time.time() if now is None else now)
    entries, bad = [], 0
    for member, score in rows:
        entry = parse_member(member, score)
        if entry is None:
            bad += 1
        else:
            entries.append(entry)
    return entries, bad


def write_entry(
    conn: RedisConnection,
    kind: Kind,
    ident: str,
    *,
    prefix: str = "cognito_guard:",
    max_token_lifetime: float = 86400,
    at: float | None = None,
) -> Revocation:
    """Record one revocation in Redis without a local copy (the CLI's write). Returns it."""
    local = _LocalList(max_token_lifetime, time.time)
    entry = local._entry(kind, ident, at)
    _RedisList(conn, prefix).write(entry, time.time(), local.max_token_lifetime)
    return entry
