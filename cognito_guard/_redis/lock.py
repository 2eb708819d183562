"""The lock every Redis user shares: ``SET NX PX`` with a random owner, released by
compare-and-delete (sync and asyncio)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from secrets import token_urlsafe
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._types import AsyncClient, SyncClient

__all__ = [
    "COMPARE_AND_DELETE",
    "RedisLock",
    "acompare_and_delete",
    "compare_and_delete",
    "milliseconds",
]

COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
"""Lua: delete ``KEYS[1]`` only if it still holds ``ARGV[1]``.

Releases a ``SET NX PX`` lock only by its owner (a lease that ran out may have passed to another
process), and drops a cache entry only if it is still the very value that was rejected.
"""


def milliseconds(seconds: float) -> int:
    """``seconds`` as a whole number of milliseconds for ``PX``/``PEXPIRE``, at least 1."""
    return max(1, int(seconds * 1000))


def compare_and_delete(client: SyncClient, name: str, value: str | bytes) -> bool:
    """Delete ``name`` only if it still holds ``value`` (:data:`COMPARE_AND_DELETE`)."""
    return bool(client.eval(COMPARE_AND_DELETE, 1, name, value))


async def acompare_and_delete(client: AsyncClient, name: str, value: str | bytes) -> bool:
    """:func:`compare_and_delete` on an asyncio client."""
    return bool(await client.eval(COMPARE_AND_DELETE, 1, name, value))


def _attempts(wait: float) -> Iterator[float]:
    """The pause before each attempt: none before the first, then growing (5 ms doubling to
    50 ms), until ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    pause = 0.0
    while True:
        yield pause
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        pause = min(max(pause * 2, 0.005), 0.05, remaining)


class RedisLock:
    """A lease on ``name``: ``SET name owner NX PX lease``, released by compare-and-delete.

    Only its owner (a random value per lock) releases it, so a holder whose lease ran out does
    not release the lock another process has taken since; a holder that dies blocks others for
    ``lease`` seconds at most. Each method takes the client to use (sync or asyncio).

    Example::

        lock = RedisLock(key_name(prefix, "lock", digest), lease=30.0)
        if lock.acquire(conn.sync, wait=5.0):
            try:
                ...  # one process at a time
            finally:
                lock.release(conn.sync)
    """

    __slots__ = ("lease_ms", "name", "owner")

    def __init__(self, name: str, lease: float) -> None:
        self.name = name
        self.owner = token_urlsafe(18)
        self.lease_ms = milliseconds(lease)

    def __repr__(self) -> str:
        return f"RedisLock({self.name!r}, lease={self.lease_ms / 1000:g})"

    def acquire(self, client: SyncClient, wait: float = 0.0) -> bool:
        """Take the lock, retrying for up to ``wait`` seconds; True when it is ours."""
        for pause in _attempts(wait):
            if pause:
                time.sleep(pause)
            if client.set(self.name, self.owner, nx=True, px=self.lease_ms):
                return True
        return False

    async def aacquire(self, client: AsyncClient, wait: float = 0.0) -> bool:
        """:meth:`acquire` on an asyncio client (the waits do not block the event loop)."""
        for pause in _attempts(wait):
            if pause:
                import asyncio  # here, not at the top: a sync-only process never needs it

                await asyncio.sleep(pause)
            if await client.set(self.name, self.owner, nx=True, px=self.lease_ms):
                return True
        return False

    def release(self, client: SyncClient) -> bool:
        """Release the lock if it is still ours; False when the lease ran out meanwhile."""
        return compare_and_delete(client, self.name, self.owner)

    async def arelease(self, client: AsyncClient) -> bool:
        """:meth:`release` on an asyncio client."""
        return await acompare_and_delete(client, self.name, self.owner)
