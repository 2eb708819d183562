"""The client types every module of ``_redis`` takes (for type checkers only: redis-py is
imported when a connection is made, not with cognito_guard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster

    SyncClient = redis.Redis | redis.cluster.RedisCluster
    """A sync client: of a single server, or of a cluster."""

    AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
    """An asyncio client: of a single server, or of a cluster."""
