"""The M2M token cache: where :class:`~cognito_guard.client.ClientCredentialsAuth` keeps its
client-credentials token, in this process or in a Redis shared by the whole fleet.

(Not the verifier's cache of verified tokens, ``CognitoVerifier(token_cache_size=...)``.)

Client-credentials (M2M) token requests are billed by AWS and count against the token endpoint's
quota. :class:`MemoryTokenCache` (the default) shares one token per process;
:class:`RedisTokenCache` shares one per (token endpoint, client id, scopes) across every process
that uses the same Redis.

Either way each process keeps its own copy of the token until it is due (``refresh_skew`` before
expiry), so a request with a warm token costs no Redis round trip. Only when that copy is missing,
due, or rejected with a 401 does one request per process (threads and event loops share it) ask
the cache, and only when the shared entry is missing or due does one process of the fleet ask
Cognito, under a Redis lock, while the others wait for the entry it writes.

Example::

    from cognito_guard.client import ClientCredentialsAuth, RedisTokenCache

    cache = RedisTokenCache("redis://cache:6379/0", encryption_key=os.environ["CG_TOKEN_KEY"])
    auth = ClientCredentialsAuth(client, scopes=["orders/read"], cache=cache)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._encryption import EncryptionKey, fernet_for, seal, unseal
from ._oauth import TokenSet
from ._redis import (
    COMPARE_AND_DELETE,
    Outage,
    RedisConnection,
    RedisLock,
    check_prefix,
    key_name,
    unavailable_errors,
)
from ._redis.ops import Acquire, Get, RedisOp, Release, Script, Steps, arun, run
from ._values import seconds
from .errors import ConfigurationError

if TYPE_CHECKING:
    from redis.credentials import CredentialProvider

    from ._redis._types import AsyncClient, SyncClient

__all__ = ["CacheRequest", "MemoryTokenCache", "RedisTokenCache", "TokenCache", "cache_key"]

log = logging.getLogger("cognito_guard")


def effective_skew(tokens: TokenSet, skew: float) -> float:
    """``skew``, capped at half the token's lifetime.

    A skew as long as the token's lifetime would fetch on every request (billed for M2M).
    """
    return min(skew, tokens.expires_in / 2) if tokens.expires_in else skew


def cache_key(token_url: str, client_id: str, scopes: Iterable[str]) -> str:
    """The cache key of a client-credentials token: sha256 of (token endpoint, client, scopes).

    Hashed so that no scope text or client id needs escaping, and none is readable in Redis.
    """
    material = json.dumps([token_url, client_id, sorted(scopes)], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True)
class _Fetch:
    """Ask Cognito (the driver's ``fetch``); its error is thrown back into the flow."""


_Op = RedisOp | _Sleep | _Fetch
_Flow = Generator[_Op, Any, TokenSet]


@dataclass(frozen=True)
class CacheRequest:
    """What a process asks a :class:`TokenCache` for: the token of ``key`` (see
    :func:`cache_key`), usable for ``skew`` seconds more by ``clock``, and not ``replacing``
    (the access token the process had, due or rejected with a 401; None without one)."""

    key: str
    skew: float
    clock: Callable[[], float]
    replacing: str | None = None


class TokenCache:
    """Where :class:`~cognito_guard.client.ClientCredentialsAuth` gets a token when its own copy
    is missing or due: :class:`MemoryTokenCache` or :class:`RedisTokenCache`.

    ``get``/``aget`` are called by one request per process at a time (the in-process single
    flight of :class:`~cognito_guard.client.ClientCredentialsAuth`), when that process has no
    usable token: they return one for the :class:`CacheRequest`, calling ``fetch`` only when
    the cache has none to give, and never the one it is replacing.

    The caches here write what they do once, as a flow (a generator of operations: ask Cognito,
    sleep, or a store operation) that ``get`` and ``aget`` drive; a cache of another kind may
    override ``get`` and ``aget`` instead.

    Example::

        def orders_auth(client: CognitoTokenClient, cache: TokenCache) -> ClientCredentialsAuth:
            return ClientCredentialsAuth(client, scopes=["orders/read"], cache=cache)
    """

    def get(self, request: CacheRequest, fetch: Callable[[], TokenSet]) -> TokenSet:
        """A token for ``request``: the cache's, or one ``fetch`` asks Cognito for."""
        steps = Steps(self._flow(request))
        while (op := steps.next()) is not None:
            try:
                if isinstance(op, _Fetch):
                    steps.result = fetch()
                elif isinstance(op, _Sleep):
                    steps.result = None
                    time.sleep(op.seconds)
                else:
                    steps.result = self._run(op)
            except BaseException as exc:  # into the flow, which knows what it means
                steps.error = exc
        assert steps.value is not None  # noqa: S101 - a flow returns tokens or raises
        return steps.value

    async def aget(
        self, request: CacheRequest, afetch: Callable[[], Awaitable[TokenSet]]
    ) -> TokenSet:
        """Async :meth:`get`."""
        steps = Steps(self._flow(request))
        while (op := steps.next()) is not None:
            try:
                if isinstance(op, _Fetch):
                    steps.result = await afetch()
                elif isinstance(op, _Sleep):
                    steps.result = None
                    await asyncio.sleep(op.seconds)
                else:
                    steps.result = await self._arun(op)
            except BaseException as exc:  # a cancellation too: the flow frees its lock
                steps.error = exc
        assert steps.value is not None  # noqa: S101 - a flow returns tokens or raises
        return steps.value

    def _flow(self, request: CacheRequest) -> _Flow:
        raise NotImplementedError

    def _run(self, op: RedisOp) -> Any:
        raise NotImplementedError

    async def _arun(self, op: RedisOp) -> Any:
        raise NotImplementedError

    def _check_client_timeout(self, timeout: float) -> None:
        """Raise :class:`ConfigurationError` when a client's requests can outlast a lock."""


class MemoryTokenCache(TokenCache):
    """One token per (client, scopes) in this process: the behaviour without ``cache=``.

    Every :class:`~cognito_guard.client.ClientCredentialsAuth` of the same client and scopes
    shares the token; each process fetches its own.

    Example: ``ClientCredentialsAuth(client, scopes=["orders/read"], cache=MemoryTokenCache())``
    """

    def _flow(self, request: CacheRequest) -> _Flow:
        # The process's own copy is the cache: with none usable, there is only Cognito to ask.
        tokens: TokenSet = yield _Fetch()
        return tokens

    def __repr__(self) -> str:
        return "MemoryTokenCache()"


# -- the Redis protocol, written once as a generator of operations (httpx's auth flows are the
# model): plain code decides what to ask and what an answer or a failure means; the sync and the
# async driver only carry the operations out.

# Write KEYS[1] = ARGV[2] (PX ARGV[3]) only if it is absent, still holds ARGV[1] (an entry we read
# and could decrypt, but not use), or has no TTL (never one of ours). An entry this process cannot
# decrypt is left alone: with a wrong key, a process must not replace the fleet's good entry.
_WRITE = """
local current = redis.call('GET', KEYS[1])
if current == false or current == ARGV[1] or redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class _Found:
    """What reading the shared entry came to: usable ``tokens``; or the ``lock`` this process
    holds to fetch for the fleet (``overwrite``: the raw value its write may replace); or
    neither (it waited too long for another process's token)."""

    tokens: TokenSet | None = None
    lock: RedisLock | None = None
    overwrite: bytes = b""


@dataclass(frozen=True)
class _Entry:
    """What a stored value turned out to be."""

    tokens: TokenSet | None  # usable now
    overwrite: bytes  # the raw value a write may replace (b"" = only an absent entry)
    rejected: bool = False  # it holds the token being replaced, and that token is not due
    problem: str | None = None  # why a value that is there cannot be used, for the log


_UNREADABLE = (
    "cannot be read with this process's encryption_key (another key, or another format, wrote "
    "it?): fetching a token of its own and leaving the entry alone"
)
_FOREIGN = "belongs to another client or scopes (copied?): replacing it"


_LOCK_LEASE = 30.0  # the default lease, when the token clients' timeouts leave room for it
_MARGIN = 10.0  # seconds a derived lease outlasts a request, and a derived wait a lease


class RedisTokenCache(TokenCache):
    """One client-credentials token for every process that uses the same Redis.

    The token is stored encrypted (Fernet) under ``{prefix}m2m:{sha256 of token endpoint, client
    id and scopes}``, expiring ``refresh_skew`` before the token. A process with no usable token
    reads the entry; when it is missing or due, one process takes the lock
    ``{...}:lock`` (``SET NX PX lock_lease``, released only by its owner), asks Cognito and writes
    the entry; the others poll for it (up to ``wait_timeout``) and use it. A holder that dies
    blocks nobody past ``lock_lease``. When Redis is unavailable (unreachable, or refusing:
    ``READONLY``, ``OOM``...) each process fetches its own token (one warning per outage) and
    returns to the shared entry when Redis is back.

    On a Redis Cluster (a URL of any node) nothing changes: the entry and its lock are each used
    alone, so they need no common slot and spread over the cluster like any keys.

    Example::

        cache = RedisTokenCache("rediss://:pw@cache:6380/0",
                                encryption_key=os.environ["CG_TOKEN_KEY"])
        auth = ClientCredentialsAuth(client, scopes=["orders/read"], cache=cache)

    Args:
        url: the Redis URL (see :class:`~cognito_guard._redis.RedisConnection`), of a single
            server or any node of a cluster; or
        client, async_client: ready ``redis.Redis`` / ``redis.asyncio.Redis`` clients, or
            ``redis.cluster.RedisCluster`` / ``redis.asyncio.cluster.RedisCluster``.
        encryption_key: a Fernet key (``Fernet.generate_key()``), or a list of them to rotate
            keys: the first encrypts, all decrypt. Required unless ``allow_plaintext``.
        allow_plaintext: with ``encryption_key=None``, store tokens in the clear (only for a
            Redis nobody else can read).
        prefix: prepended to every key this cache writes.
        lock_lease: seconds a fetching process holds the lock; must outlast a token request
            (longer than the client's ``timeout``). Default: 30, or the timeout of the slowest
            token client using this cache plus 10.
        wait_timeout: seconds a process waits for another's token before fetching its own.
            Default: ``lock_lease`` plus 10, so a waiter outlasts a lock whose holder died.
        timeout: connect and socket timeout of the Redis clients made from ``url``.
        credential_provider: a ``redis.credentials.CredentialProvider`` for the clients made
            from ``url`` (ElastiCache IAM authentication), instead of credentials in the URL.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: SyncClient | None = None,
        async_client: AsyncClient | None = None,
        encryption_key: EncryptionKey | None = None,
        allow_plaintext: bool = False,
        prefix: str = "cognito_guard:",
        lock_lease: float | None = None,
        wait_timeout: float | None = None,
        timeout: float = 2.0,
        credential_provider: CredentialProvider | None = None,
    ) -> None:
        what = "RedisTokenCache"
        if not isinstance(prefix, str) or not prefix:
            raise ConfigurationError(f"{what}: prefix must be a non-empty string")
        check_prefix(prefix, what)
        lease = seconds(lock_lease, f"{what}: lock_lease") if lock_lease is not None else None
        wait = seconds(wait_timeout, f"{what}: wait_timeout") if wait_timeout is not None else None
        self._fernet = fernet_for(
            encryption_key, allow_plaintext=allow_plaintext, what="RedisTokenCache"
        )
        self.connection = RedisConnection(
            url,
            client=client,
            async_client=async_client,
            timeout=timeout,
            credential_provider=credential_provider,
            what=what,
        )
        self.prefix = prefix
        # Options left out follow the others: see _check_client_timeout.
        self._lease_given = lease is not None
        self._wait_given = wait is not None
        self.lock_lease = lease if lease is not None else _LOCK_LEASE
        self.wait_timeout = wait if wait is not None else self.lock_lease + _MARGIN
        self._errors = unavailable_errors()
        self._state = threading.Lock()
        self._outage = Outage(self.connection)

    @property
    def encrypted(self) -> bool:
        """False only for ``allow_plaintext=True``."""
        return self._fernet is not None

    def __repr__(self) -> str:
        return (
            f"RedisTokenCache({self.connection.url!r}, prefix={self.prefix!r}, "
            f"encrypted={self.encrypted})"
        )

    def _check_client_timeout(self, timeout: float) -> None:
        with self._state:
            if self.lock_lease > timeout:
                return
            if not self._lease_given:
                # A lease only grows: it stays longer than every other client's timeout too.
                self.lock_lease = timeout + _MARGIN
                if not self._wait_given:
                    self.wait_timeout = self.lock_lease + _MARGIN
                return
        raise ConfigurationError(
            f"RedisTokenCache: lock_lease={self.lock_lease:g} must be longer than the token "
            f"client's timeout ({timeout:g} s), or a slow token request outlives its lock and "
            "another process asks Cognito too"
        )

    # -- stored values ---------------------------------------------------------------------------

    def _seal(self, key: str, tokens: TokenSet) -> bytes:
        return seal(self._fernet, key, {"tokens": tokens.as_dict()})

    def _open(self, request: CacheRequest, raw: bytes | None) -> _Entry:
        """Decide what a stored value is worth: anything odd is "missing", never an error."""
        if raw is None:
            return _Entry(None, b"")
        opened = unseal(self._fernet, request.key, raw)
        if opened.problem == "foreign":
            return _Entry(None, raw, problem=_FOREIGN)
        try:
            if opened.value is None:
                raise ValueError(opened.problem)
            tokens = TokenSet.from_dict(opened.value["tokens"], clock=request.clock)
            if not math.isfinite(tokens.expires_at):
                raise ValueError("a NaN or infinite expiry would never be due")
        except (ValueError, TypeError, KeyError, AttributeError):
            # A plaintext reader cannot tell a corrupt value from an encrypted one.
            if opened.problem == "unreadable" or self._fernet is None:
                return _Entry(None, b"", problem=_UNREADABLE)
            return _Entry(None, raw, problem="is corrupt: replacing it")
        due = tokens.is_expired(effective_skew(tokens, request.skew))
        if request.replacing is not None and tokens.access_token == request.replacing:
            return _Entry(None, raw, rejected=not due)
        return _Entry(None, raw) if due else _Entry(tokens, raw)

    # -- the protocol ----------------------------------------------------------------------------

    def _flow(self, request: CacheRequest) -> _Flow:
        """The shared entry, or a token this process fetches (for the fleet when it leads, for
        itself when Redis fails or the leader takes too long)."""
        try:
            found = yield from self._find(request)
        except self._errors as exc:
            self._failed(exc)
            return (yield from self._fetch(None))
        if found.tokens is not None:
            self._succeeded()
            return found.tokens
        tokens = yield from self._fetch(found.lock)
        if found.lock is not None:
            try:
                yield from self._share(request, tokens, found.lock, found.overwrite)
            except self._errors as exc:
                self._failed(exc)
                return tokens
        self._succeeded()
        return tokens

    def _find(self, request: CacheRequest) -> Generator[_Op, Any, _Found]:
        """Read the entry; else take the lock to lead, or wait for who leads."""
        entry_name = key_name(self.prefix, "m2m", request.key)
        deadline = time.monotonic() + self.wait_timeout
        pause = 0.02
        logged = False
        while True:
            entry = self._open(request, (yield Get(entry_name)))
            if entry.problem is not None and not logged:
                log.warning("the shared token entry %s %s", entry_name, entry.problem)
                logged = True
            if entry.tokens is not None:
                return _Found(entry.tokens)
            if entry.rejected:
                # The API refused this very token: drop it for everyone, unless it was already
                # replaced (then the next read finds the new one).
                yield Script(COMPARE_AND_DELETE, (entry_name,), (entry.overwrite,))
                request = dataclasses.replace(request, replacing=None)
                continue
            lock = RedisLock(key_name(self.prefix, "m2m", request.key, "lock"), self.lock_lease)
            if (yield Acquire(lock)):
                # Someone may have written between our read and our lock: read again.
                entry = self._open(request, (yield Get(entry_name)))
                if entry.tokens is None:
                    return _Found(lock=lock, overwrite=entry.overwrite)
                yield Release(lock)
                return _Found(entry.tokens)
            if time.monotonic() >= deadline:
                log.warning(
                    "waited %.3g s for another process's token request (%s): "
                    "fetching a token of its own",
                    self.wait_timeout,
                    lock.name,
                )
                return _Found()
            # Jittered, growing polls: waiters do not hit Redis in lock step.
            jitter = random.uniform(0.8, 1.2)  # noqa: S311 - timing, not security
            yield _Sleep(min(pause * jitter, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 1.5, 0.25)

    def _fetch(self, lock: RedisLock | None) -> Generator[_Op, Any, TokenSet]:
        """Ask Cognito; a failed request frees the ``lock`` this process holds, if any."""
        try:
            tokens: TokenSet = yield _Fetch()
        except GeneratorExit:
            raise
        except BaseException:
            if lock is not None:
                # Free the lock now rather than make the fleet wait out the lease (if Redis
                # fails here too, the lock expires with its lease).
                with contextlib.suppress(*self._errors):
                    yield Release(lock)
            raise
        return tokens

    def _share(
        self, request: CacheRequest, tokens: TokenSet, lock: RedisLock, overwrite: bytes
    ) -> Generator[_Op, Any, None]:
        """Write the fetched ``tokens`` for the fleet (until they are due), then unlock."""
        skew = effective_skew(tokens, request.skew)
        ttl_ms = int((tokens.expires_at - skew - tokens.clock()) * 1000)
        if ttl_ms > 0:
            sealed = self._seal(request.key, tokens)
            entry_name = key_name(self.prefix, "m2m", request.key)
            yield Script(_WRITE, (entry_name,), (overwrite, sealed, ttl_ms))
        yield Release(lock)

    # -- outage bookkeeping ----------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        self._outage.began(
            exc,
            "Redis at %s is unreachable (%s): each process fetches its own "
            "client-credentials token until it is back",
        )

    def _succeeded(self) -> None:
        self._outage.ended(
            "Redis at %s is reachable again: tokens are shared again", level=logging.INFO
        )

    # -- the store's operations, for the drivers of TokenCache --------------------------------

    def _run(self, op: RedisOp) -> Any:
        return run(self.connection.sync, op)

    async def _arun(self, op: RedisOp) -> Any:
        if not self.connection.has_async:  # a sync client was passed: keep the loop free
            return await asyncio.to_thread(run, self.connection.sync, op)
        return await arun(await self.connection.for_loop(), op)

    def close(self) -> None:
        """Close the sync Redis client this cache made (see ``RedisConnection.close``)."""
        self.connection.close()

    async def aclose(self) -> None:
        """Close the running loop's and the sync Redis clients this cache made."""
        await self.connection.aclose()
