"""The Redis side of the list, without a thread: the keys, one write, one read; and the CLI's
reads and writes, which need no local copy."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .._redis import RedisConnection, key_name
from .._redis.ops import Script, arun, run
from .._redis.pubsub import Subscription
from ._wire import parse_member
from .memory import _LocalList
from .protocols import Kind, Revocation

if TYPE_CHECKING:
    from .._redis._types import AsyncClient

__all__ = ["read_entries", "write_entry"]

# The write on a cluster, where it is a script rather than a MULTI transaction: redis-py's
# cluster client cannot route the keyless PUBLISH of a transaction, and the sharded channel is
# the list's own key name, so SPUBLISH stays in the slot of the two keys.
# KEYS: the list (also the channel), the counter. ARGV: member, expiry, now, horizon, message.
_WRITE_SHARDED = """
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
for _, key in ipairs(KEYS) do
  redis.call('EXPIREAT', key, ARGV[4], 'NX')
  redis.call('EXPIREAT', key, ARGV[4], 'GT')
end
redis.call('INCRBY', KEYS[2], 1)
redis.call('SPUBLISH', KEYS[1], ARGV[5])
return 1
"""


class _RedisList:
    """The Redis side of the list, without a thread: the keys, one write, one read.

    ``{prefix}revocations`` is a sorted set of :attr:`Revocation.member` scored by expiry;
    ``{prefix}revocations:version`` counts the writes made through here, each of which also
    publishes its entry (:attr:`Revocation.message`) on the channel ``{prefix}revocations``, in
    the same transaction. A re-sync that saw as many messages as the counter advanced lost
    none, and skips the full read.

    On a Redis Cluster the keys and the channel share the hash tag ``{revocations}``
    (``{prefix}{revocations}``, ``{prefix}{revocations}:version``): one slot holds the whole
    list, and the write is one script that publishes with ``SPUBLISH``. On a single server the
    names carry no tag, so a list stored there stays readable across upgrades.
    """

    def __init__(self, conn: RedisConnection, prefix: str) -> None:
        self.conn = conn
        self.prefix = prefix

    @property
    def key(self) -> str:
        """The sorted set (and the channel), named for the kind of server connected to."""
        return key_name(self.prefix, "revocations", tag=bool(self.conn.cluster))

    @property
    def version_key(self) -> str:
        """The write counter."""
        return key_name(self.prefix, "revocations", "version", tag=bool(self.conn.cluster))

    def subscribe(self) -> Subscription:
        """Subscribe to the channel (a sharded one on a cluster)."""
        self.conn.sync  # noqa: B018 - connect first: the channel's name depends on the server
        return Subscription(self.conn, self.key)

    def _script(self, entry: Revocation, now: float, lifetime: float) -> Script:
        keys = (self.key, self.version_key)
        args = (entry.member, repr(entry.expires), repr(now), math.ceil(now + lifetime))
        return Script(_WRITE_SHARDED, keys, (*args, entry.message))

    def _queue_write(self, pipe: Any, entry: Revocation, now: float, lifetime: float) -> None:
        horizon = math.ceil(now + lifetime)
        key, version_key = self.key, self.version_key
        pipe.zadd(key, {entry.member: entry.expires}, gt=True)  # GT: adds, or extends
        pipe.zremrangebyscore(key, "-inf", now)
        # The set lives as long as its longest entry: NX sets a TTL on a new key, GT extends it.
        for name in (key, version_key):
            pipe.expireat(name, horizon, nx=True)
            pipe.expireat(name, horizon, gt=True)
        pipe.incr(version_key)
        pipe.publish(key, entry.message)  # a channel is no key, but named alike

    def write(self, entry: Revocation, now: float, lifetime: float) -> None:
        """Record ``entry`` and announce it, in one transaction (a script on a cluster)."""
        client = self.conn.sync
        if self.conn.cluster:
            run(client, self._script(entry, now, lifetime))
            return
        pipe = client.pipeline(transaction=True)
        self._queue_write(pipe, entry, now, lifetime)
        pipe.execute()

    async def awrite(self, entry: Revocation, now: float, lifetime: float) -> None:
        """Like :meth:`write`, on the running loop's asyncio client."""
        client: AsyncClient = await self.conn.for_loop()
        if self.conn.cluster:
            await arun(client, self._script(entry, now, lifetime))
            return
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
        client = self.conn.sync
        rows: Any = client.zrangebyscore(self.key, f"({now}", "+inf", withscores=True)
        return [(member, float(score)) for member, score in rows]

    async def aread(self, client: AsyncClient, now: float) -> list[tuple[bytes, float]]:
        """:meth:`read` on an asyncio client."""
        rows: Any = await client.zrangebyscore(self.key, f"({now}", "+inf", withscores=True)
        return [(member, float(score)) for member, score in rows]


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
