"""Where sessions and sign-in states live: in memory (one process) or on Redis (shared).

A store keeps three kinds of records, each with a time to live: sessions (by session id), the
short-lived sign-in states (by OAuth ``state``, taken once), and the per-session refresh lock.
Keys on Redis are SHA-256 digests of the ids, so a look at Redis shows no usable session id;
the values (tokens) are encrypted with Fernet unless plaintext was explicitly allowed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from .._encryption import EncryptionKey, fernet_for
from .._redis import COMPARE_AND_DELETE, RedisConnection, connection_errors, describe
from ..errors import CognitoGuardError, ConfigurationError

if TYPE_CHECKING:
    import redis

__all__ = [
    "MemorySessionStore",
    "RedisSessionStore",
    "SessionStore",
    "SessionStoreUnavailable",
]

log = logging.getLogger("cognito_guard")

Record = dict[str, Any]


class SessionStoreUnavailable(CognitoGuardError):
    """The session store cannot be reached, or a refresh lock could not be had in time.

    Not a verdict on the session: the request is answered 503 with ``Retry-After``.
    """

    retry_after = 5


class SessionStore(Protocol):
    """What :class:`~cognito_guard.sessions.WebSignIn` needs of a store (sync; thread-safe)."""

    def get(self, session_id: str) -> Record | None:
        """The session record, or None when there is none (or it expired)."""

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        """Store a session record for ``ttl`` seconds."""

    def delete(self, session_id: str) -> None:
        """Forget a session (no error when there is none)."""

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        """Store a sign-in state for ``ttl`` seconds."""

    def take_login(self, state: str) -> Record | None:
        """The sign-in state's record, removed in the same step (single use), or None."""

    def lock(self, session_id: str, lease: float, wait: float) -> AbstractContextManager[None]:
        """Hold the session's refresh lock (at most ``lease`` s); wait up to ``wait`` s for it.

        Raises :class:`SessionStoreUnavailable` when it cannot be had in time.
        """


def _digest(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _positive(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(f"{what} must be a positive number of seconds")
    return float(value)


class MemorySessionStore:
    """Sessions in this process's memory: for one process (a development server, a single worker).

    Sessions are lost on restart and not shared between worker processes; use
    :class:`RedisSessionStore` for those. Records are kept as JSON text, so a caller can never
    change a stored session by mutating what it got.

    Example::

        sign_in = WebSignIn(..., store=MemorySessionStore())
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    def __len__(self) -> int:
        """How many live sessions and sign-in states it holds."""
        with self._lock:
            self._sweep()
            return len(self._records)

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, (expires, _) in self._records.items() if expires <= now]:
            del self._records[key]

    def _put(self, key: str, record: Record, ttl: float) -> None:
        text = json.dumps(record)
        with self._lock:
            self._sweep()
            self._records[key] = (self.clock() + ttl, text)

    def _get(self, key: str, *, take: bool = False) -> Record | None:
        with self._lock:
            entry = self._records.pop(key, None) if take else self._records.get(key)
        if entry is None or entry[0] <= self.clock():
            return None
        value: Record = json.loads(entry[1])
        return value

    def get(self, session_id: str) -> Record | None:
        return self._get(_digest("session", session_id))

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        self._put(_digest("session", session_id), record, ttl)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._records.pop(_digest("session", session_id), None)

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        self._put(_digest("login", state), record, ttl)

    def take_login(self, state: str) -> Record | None:
        return self._get(_digest("login", state), take=True)

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


class RedisSessionStore:
    """Sessions on Redis (or Valkey, ElastiCache), shared by every process that uses the URL.

    The tokens are encrypted with the Fernet ``encryption_key`` (the same key in every process);
    ``encryption_key=None`` needs ``allow_plaintext=True``. The refresh lock is a ``SET NX PX``
    lease released by compare-and-delete, so one process refreshes a session at a time and a
    crashed one cannot hold it past the lease.

    Example::

        store = RedisSessionStore("rediss://cache.example.com:6380/0",
                                  encryption_key=os.environ["SESSION_ENCRYPTION_KEY"])

    Args:
        url: a ``redis://``, ``rediss://`` or ``unix://`` URL (credentials are never shown).
        encryption_key: a Fernet key (``Fernet.generate_key()``), or a list of them to rotate
            keys: the first encrypts, all decrypt.
        allow_plaintext: store the tokens unencrypted when ``encryption_key`` is None.
        prefix: the prefix of every key this store writes.
        client: a ``redis.Redis`` of your own instead of ``url``.
        timeout: connect and socket timeout in seconds.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        encryption_key: EncryptionKey | None,
        allow_plaintext: bool = False,
        prefix: str = "cognito_guard:",
        client: redis.Redis | None = None,
        timeout: float = 2.0,
    ) -> None:
        self._fernet = fernet_for(
            encryption_key, allow_plaintext=allow_plaintext, what="RedisSessionStore"
        )
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string")
        self.prefix = prefix
        self.connection = RedisConnection(
            url, client=client, timeout=timeout, what="RedisSessionStore"
        )

    def __repr__(self) -> str:
        encrypted = "yes" if self._fernet is not None else "no"
        return f"RedisSessionStore({self.connection.url!r}, encrypted={encrypted})"

    def _key(self, kind: str, value: str) -> str:
        return self.prefix + _digest(kind, value)

    def _encode(self, record: Record) -> bytes:
        data = json.dumps(record).encode()
        return self._fernet.encrypt(data) if self._fernet is not None else data

    def _decode(self, data: bytes | None) -> Record | None:
        if data is None:
            return None
        try:
            if self._fernet is not None:
                from cryptography.fernet import InvalidToken

                try:
                    data = self._fernet.decrypt(data)
                except InvalidToken:
                    log.warning("a stored session cannot be decrypted; ignored")
                    return None
            value = json.loads(data)
        except ValueError:
            log.warning("a stored session is not valid JSON; ignored")
            return None
        return value if isinstance(value, dict) else None

    def _call(self, operation: Callable[[redis.Redis], Any]) -> Any:
        try:
            return operation(self.connection.sync)
        except connection_errors() as exc:
            text = describe(exc, self.connection.secrets)
            log.warning("the session store is unavailable: %s", text)
            raise SessionStoreUnavailable(f"the session store is unavailable ({text})") from None

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(1, int(ttl * 1000))

    def get(self, session_id: str) -> Record | None:
        return self._decode(self._call(lambda r: r.get(self._key("session", session_id))))

    def put(self, session_id: str, record: Record, ttl: float) -> None:
        data = self._encode(record)
        self._call(lambda r: r.set(self._key("session", session_id), data, px=self._ms(ttl)))

    def delete(self, session_id: str) -> None:
        self._call(lambda r: r.delete(self._key("session", session_id)))

    def put_login(self, state: str, record: Record, ttl: float) -> None:
        data = self._encode(record)
        self._call(lambda r: r.set(self._key("login", state), data, px=self._ms(ttl)))

    def take_login(self, state: str) -> Record | None:
        return self._decode(self._call(lambda r: r.getdel(self._key("login", state))))

    @contextmanager
    def lock(self, session_id: str, lease: float, wait: float) -> Iterator[None]:
        """The session's refresh lock across processes: ``SET NX PX`` with a random owner."""
        key, owner = self._key("lock", session_id), secrets.token_hex(16)
        deadline = time.monotonic() + wait
        pause = 0.005
        while not self._call(lambda r: r.set(key, owner, nx=True, px=self._ms(lease))):
            if time.monotonic() >= deadline:
                raise SessionStoreUnavailable("another process holds this session's refresh lock")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        try:
            yield
        finally:
            self._call(lambda r: r.eval(COMPARE_AND_DELETE, 1, key, owner))

    def close(self) -> None:
        """Close the Redis client this store made."""
        self.connection.close()
