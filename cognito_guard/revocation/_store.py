"""The Redis side of the list, without a thread: the keys, one write, one read; and the CLI's
reads and writes, which need no local copy."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from .._redis import RedisConnection, key_name
from ._wire import parse_member
from .memory import _LocalList
from .protocols import Kind, Revocation

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["read_entries", "write_entry"]


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
        self.key = key_name(prefix, "revocations")
        self.version_key = key_name(prefix, "revocations", "version")
        self.channel = self.key  # a channel is no key, but named alike

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

    async def aread(self, client: redis.asyncio.Redis, now: float) -> list[tuple[bytes, float]]:
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
