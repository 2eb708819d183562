"""Where sessions and sign-in states live: in memory (one process) or on Redis (shared).

A store keeps three kinds of records, each with a time to live: sessions (by session id), the
short-lived sign-in states (by OAuth ``state``, taken once), and the per-session refresh lock.
Keys on Redis are SHA-256 digests of the ids, so a look at Redis shows no usable session id;
the values (tokens) are encrypted with Fernet unless plaintext was explicitly allowed, and sealed
together with the digest they are stored under, so a value copied to another key is refused.

Anyone can start a sign-in, so the pending sign-in states of a store are capped
(``max_pending_logins``): past the cap the oldest are dropped first, and a sign-in started now
still completes. Expired records are removed a few at a time on each write, never all at once.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from .._encryption import EncryptionKey, fernet_for, seal, unseal
from .._redis import (
    RedisConnection,
    RedisLock,
    check_prefix,
    describe,
    key_name,
    milliseconds,
    unavailable_errors,
)
from .._values import whole
from ..errors import ConfigurationError, SessionStoreUnavailable

if TYPE_CHECKING:
    from redis.credentials import CredentialProvider

    from .._redis._types import SyncClient

__all__ = [
    "MemorySessionStore",
    "RedisSessionStore",
    "SessionStore",
    "SessionStoreUnavailable",
]

log = logging.getLogger("cognito_guard")

Record = dict[str, Any]

MAX_PENDING_LOGINS = 10_000
"""The default cap of pending sign-in states per store (a few MiB in memory)."""

SWEEP_STEP = 16
"""At most this many expired records of each kind are removed by one write."""

_FULL_WARNING_EVERY = 60.0  # seconds between two "the cap drops sign-ins" warnings


class SessionStore(Protocol):
    """What :class:`~cognito_guard.sessions.WebSignIn` needs of a store (sync; thread-safe)."""

    def get(self, session_id: str) -> Record | None:
        """The session record, or None when there is none (or it expired)."""

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        """Store a session record for ``ttl`` seconds."""

    def replace(self, session_id: str, record: Record, ttl: float) -> bool:
        """Store a session record for ``ttl`` seconds only if the session still exists.

        Returns False, storing nothing, when it was deleted (logout) or expired meanwhile: a
        refresh that finishes after a logout must not bring the session back.
        """

    def delete(self, session_id: str) -> None:
        """Forget a session (no error when there is none)."""

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        """Store a sign-in state for ``ttl`` seconds (the oldest go first past the store's cap)."""

    def take_login(self, state: str) -> Record | None:
        """The sign-in state's record, removed in the same step (single use), or None."""

    def lock(self, session_id: str, lease: float, wait: float) -> AbstractContextManager[None]:
        """Hold the session's refresh lock (at most ``lease`` s); wait up to ``wait`` s for it.

        Raises :class:`SessionStoreUnavailable` when it cannot be had in time.
        """


def _hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _digest(kind: str, value: str) -> str:
    """What names a record: its kind and the SHA-256 of its id (never the id itself)."""
    return f"{kind}:{_hex(value)}"


class _FullWarning:
    """Says at most once a minute that the cap drops pending sign-ins (a flood logs once)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._last = -_FULL_WARNING_EVERY

    def dropped(self, count: int) -> None:
        now = time.monotonic()
        if count > 0 and now - self._last >= _FULL_WARNING_EVERY:
            self._last = now
            log.warning(
                "more than max_pending_logins=%d sign-ins are pending: the oldest are dropped "
                "(a flood of sign-in requests?); their users must start again",
                self.cap,
            )


class MemorySessionStore:
    """Sessions in this process's memory: for one process (a development server, a single worker).

    Sessions are lost on restart and not shared between worker processes; use
    :class:`RedisSessionStore` for those. Records are kept as JSON text, so a caller can never
    change a stored session by mutating what it got. Each write removes at most
    :data:`SWEEP_STEP` expired records of each kind (in order of expiry), so no request pays for
    sweeping the whole store.

    Example::

        sign_in = WebSignIn(..., store=MemorySessionStore())

    Args:
        max_pending_logins: how many started sign-ins are kept at most; past it the oldest are
            dropped first (their users start again), so a flood of ``/auth/login`` requests
            costs bounded memory and a sign-in started after it still completes.
        clock: epoch seconds (tests).
    """

    def __init__(
        self,
        *,
        max_pending_logins: int = MAX_PENDING_LOGINS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_pending_logins = whole(max_pending_logins, "max_pending_logins", minimum=1)
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[float, str]] = {}
        # (expiry, key) of every session write, soonest first; an entry whose session was
        # deleted or written again since is stale and skipped when it comes up.
        self._expiries: list[tuple[float, str]] = []
        # Sign-in states in the order they were started: with one login_ttl, also of expiry.
        self._logins: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._full = _FullWarning(self.max_pending_logins)

    def __len__(self) -> int:
        """How many live sessions and sign-in states it holds."""
        now = self.clock()
        with self._lock:
            records = (*self._sessions.values(), *self._logins.values())
            return sum(1 for expires, _ in records if expires > now)

    def _sweep(self, now: float) -> None:
        """Remove at most SWEEP_STEP expired sessions and SWEEP_STEP expired states (lock held)."""
        for _ in range(SWEEP_STEP):
            if not self._expiries or self._expiries[0][0] > now:
                break
            expires, key = heapq.heappop(self._expiries)
            entry = self._sessions.get(key)
            if entry is not None and entry[0] == expires:
                del self._sessions[key]
        if len(self._expiries) > 2 * len(self._sessions) + 64:
            # Stale entries of rewritten sessions: rebuilt after at least as many writes as
            # there are sessions, so the cost per write stays constant on average.
            self._expiries = [(expires, key) for key, (expires, _) in self._sessions.items()]
            heapq.heapify(self._expiries)
        for _ in range(SWEEP_STEP):
            oldest = next(iter(self._logins.values()), None)
            if oldest is None or oldest[0] > now:
                break
            self._logins.popitem(last=False)

    def _write_session(self, key: str, record: Record, ttl: float, *, existing: bool) -> bool:
        text = json.dumps(record)
        with self._lock:
            now = self.clock()
            self._sweep(now)
            if existing:
                entry = self._sessions.get(key)
                if entry is None or entry[0] <= now:
                    return False
            expires = now + ttl
            self._sessions[key] = (expires, text)
            heapq.heappush(self._expiries, (expires, key))
        return True

    def get(self, session_id: str) -> Record | None:
        key = _digest("session", session_id)
        with self._lock:
            entry = self._sessions.get(key)
            if entry is not None and entry[0] <= self.clock():
                del self._sessions[key]
                entry = None
        if entry is None:
            return None
        value: Record = json.loads(entry[1])
        return value

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        self._write_session(_digest("session", session_id), record, ttl, existing=False)

    def replace(self, session_id: str, record: Record, ttl: float) -> bool:
        return self._write_session(_digest("session", session_id), record, ttl, existing=True)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(_digest("session", session_id), None)

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        text = json.dumps(record)
        key = _digest("login", state)
        with self._lock:
            now = self.clock()
            self._sweep(now)
            dropped = 0
            self._logins.pop(key, None)
            while len(self._logins) >= self.max_pending_logins:
                self._logins.popitem(last=False)
                dropped += 1
            self._logins[key] = (now + ttl, text)
        self._full.dropped(dropped)

    def take_login(self, state: str) -> Record | None:
        with self._lock:
            entry = self._logins.pop(_digest("login", state), None)
        if entry is None or entry[0] <= self.clock():
            return None
        value: Record = json.loads(entry[1])
        return value

    @contextmanager
    def lock(self, session_id: str, lease: float, wait: float) -> Iterator[None]:
        """The session's refresh lock; a thread lock, so it covers every thread and event loop."""
        key = _digest("lock", session_id)
        with self._lock:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            if not lock.acquire(timeout=wait):
                raise SessionStoreUnavailable("another request holds this session's refresh lock")
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._lock:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


# Pending sign-ins on Redis: one hash (identity -> sealed state) and one sorted set (identity by
# expiry in ms), under one hash tag so that a cluster keeps both in one slot. A write removes at
# most ARGV[6] expired states, then the oldest while the cap ARGV[5] is reached (bounded the same
# way, so a lowered cap is reached over a few writes); both keys expire with the newest state.
# States started within one millisecond keep the order they started in (ZPOPMIN would otherwise
# break the tie by identity, a random digest): each scores 1/1024 ms after the latest of its
# millisecond, so "oldest first" holds at any rate of sign-ins (up to 1024 in a millisecond).
# KEYS: states, expiries. ARGV: identity, sealed, expires_ms, now_ms, cap, step, ttl_ms.
_PUT_LOGIN = """
local step = tonumber(ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, step)
for _, identity in ipairs(expired) do
  redis.call('HDEL', KEYS[1], identity)
  redis.call('ZREM', KEYS[2], identity)
end
redis.call('ZREM', KEYS[2], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5]) + 1
local dropped = 0
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], math.min(excess, step + 1))
  for i = 1, #oldest, 2 do
    redis.call('HDEL', KEYS[1], oldest[i])
    dropped = dropped + 1
  end
end
local score = tonumber(ARGV[3])
local latest = redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. (score + 1), score,
  'WITHSCORES', 'LIMIT', 0, 1)
if #latest > 0 then
  score = math.min(tonumber(latest[2]) + 1 / 1024, score + 1023 / 1024)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], score, ARGV[1])
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < tonumber(ARGV[7]) then
    redis.call('PEXPIRE', key, ARGV[7])
  end
end
return dropped
"""

# Take one state (single use): returned only when it has not expired.
# KEYS: states, expiries. ARGV: identity, now_ms.
_TAKE_LOGIN = """
local sealed = redis.call('HGET', KEYS[1], ARGV[1])
local expires = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not sealed or not expires or tonumber(expires) <= tonumber(ARGV[2]) then
  return false
end
return sealed
"""

_REFUSED = {
    "unreadable": "cannot be decrypted with this encryption_key (another key wrote it?)",
    "corrupt": "is not a sealed record",
    "foreign": "was sealed for another key (copied within Redis?)",
}


class RedisSessionStore:
    """Sessions on Redis (or Valkey, ElastiCache), shared by every process that uses the URL.

    The tokens are encrypted with the Fernet ``encryption_key`` (the same key in every process);
    ``encryption_key=None`` needs ``allow_plaintext=True``. Each value is sealed with the digest
    of the key it is stored under: a value copied onto another session's key is refused (no
    session), so write access to Redis alone does not let one session be served as another.
    The refresh lock is a ``SET NX PX`` lease released by compare-and-delete, so one process
    refreshes a session at a time and a crashed one cannot hold it past the lease. Pending
    sign-ins are one hash and one sorted set (one cluster slot), capped at
    ``max_pending_logins``, the oldest dropped first.

    On a Redis Cluster (a URL of any node) the two keys of the pending sign-ins share the hash
    tag ``{logins}``, as their scripts need; each session and its refresh lock are used alone
    and spread over every slot of the cluster.

    Example::

        store = RedisSessionStore("rediss://cache.example.com:6380/0",
                                  encryption_key=os.environ["SESSION_ENCRYPTION_KEY"])

    Args:
        url: a ``redis://``, ``rediss://`` or ``unix://`` URL (credentials are never shown).
        encryption_key: a Fernet key (``Fernet.generate_key()``), or a list of them to rotate
            keys: the first encrypts, all decrypt.
        allow_plaintext: store the tokens unencrypted when ``encryption_key`` is None.
        prefix: the prefix of every key this store writes.
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` of your own instead of
            ``url``.
        timeout: connect and socket timeout in seconds.
        credential_provider: a ``redis.credentials.CredentialProvider`` for the client made
            from ``url`` (ElastiCache IAM authentication), instead of credentials in the URL.
        max_pending_logins: how many started sign-ins are kept at most (for every process
            sharing the store); past it the oldest are dropped first.
        clock: epoch seconds, for the expiry of pending sign-ins (tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        encryption_key: EncryptionKey | None,
        allow_plaintext: bool = False,
        prefix: str = "cognito_guard:",
        client: SyncClient | None = None,
        timeout: float = 2.0,
        credential_provider: CredentialProvider | None = None,
        max_pending_logins: int = MAX_PENDING_LOGINS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fernet = fernet_for(
            encryption_key, allow_plaintext=allow_plaintext, what="RedisSessionStore"
        )
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string")
        self.prefix = check_prefix(prefix, "RedisSessionStore")
        self.max_pending_logins = whole(max_pending_logins, "max_pending_logins", minimum=1)
        self.clock = clock
        self.connection = RedisConnection(
            url,
            client=client,
            timeout=timeout,
            credential_provider=credential_provider,
            what="RedisSessionStore",
        )
        self._login_keys = (
            key_name(prefix, "logins", "states", tag=True),
            key_name(prefix, "logins", "expiries", tag=True),
        )
        self._full = _FullWarning(self.max_pending_logins)

    def __repr__(self) -> str:
        encrypted = "yes" if self._fernet is not None else "no"
        return f"RedisSessionStore({self.connection.url!r}, encrypted={encrypted})"

    def _names(self, kind: str, value: str) -> tuple[str, str]:
        """(the identity a record is sealed with, the key it is stored under)."""
        digest = _hex(value)
        return f"{kind}:{digest}", key_name(self.prefix, kind, digest)

    def _decode(self, what: str, identity: str, data: bytes | None) -> Record | None:
        if data is None:
            return None
        opened = unseal(self._fernet, identity, data)
        record = opened.value.get("record") if opened.value is not None else None
        if not isinstance(record, dict):
            log.warning("a stored %s %s; refused", what, _REFUSED[opened.problem or "corrupt"])
            return None
        return record

    def _call(self, operation: Callable[[Any], Any]) -> Any:
        try:
            return operation(self.connection.sync)
        except unavailable_errors() as exc:
            text = describe(exc, self.connection.secrets)
            log.warning("the session store is unavailable: %s", text)
            raise SessionStoreUnavailable(f"the session store is unavailable ({text})") from None

    def get(self, session_id: str) -> Record | None:
        identity, key = self._names("session", session_id)
        raw = self._call(lambda r: r.get(key))
        return self._decode("session", identity, raw)

    def _set(self, session_id: str, record: Record, ttl: float, *, existing: bool) -> bool:
        identity, key = self._names("session", session_id)
        data, ms = seal(self._fernet, identity, {"record": record}), milliseconds(ttl)
        # XX: only over a session that still exists, in the same step (no read-then-write race).
        return bool(self._call(lambda r: r.set(key, data, px=ms, xx=existing)))

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        self._set(session_id, record, ttl, existing=False)

    def replace(self, session_id: str, record: Record, ttl: float) -> bool:
        return self._set(session_id, record, ttl, existing=True)

    def delete(self, session_id: str) -> None:
        key = self._names("session", session_id)[1]
        self._call(lambda r: r.delete(key))

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        identity = _digest("login", state)
        data = seal(self._fernet, identity, {"record": record})
        now = self.clock()
        args = (
            identity,
            data,
            int((now + ttl) * 1000),
            int(now * 1000),
            self.max_pending_logins,
            SWEEP_STEP,
            milliseconds(ttl),
        )
        dropped = self._call(lambda r: r.eval(_PUT_LOGIN, 2, *self._login_keys, *args))
        self._full.dropped(int(dropped or 0))

    def take_login(self, state: str) -> Record | None:
        identity = _digest("login", state)
        now_ms = int(self.clock() * 1000)
        raw = self._call(lambda r: r.eval(_TAKE_LOGIN, 2, *self._login_keys, identity, now_ms))
        return self._decode("sign-in state", identity, raw)

    @contextmanager
    def lock(self, session_id: str, lease: float, wait: float) -> Iterator[None]:
        """The session's refresh lock across processes: a ``SET NX PX`` lease with a random
        owner, released by compare-and-delete."""
        lock = RedisLock(self._names("lock", session_id)[1], lease)
        if not self._call(lambda r: lock.acquire(r, wait)):
            raise SessionStoreUnavailable("another process holds this session's refresh lock")
        try:
            yield
        finally:
            self._call(lock.release)

    def close(self) -> None:
        """Close the Redis client this store made."""
        self.connection.close()
