"""Redis Cluster (ElastiCache Serverless, cluster-mode ElastiCache, MemoryDB): telling a cluster
node from a single server at the first connection, and what a cluster needs of a URL.

The probe is written once as a generator of commands (see ``ops.py``) and carried out by a sync
or an asyncio driver: ``CLUSTER INFO`` answers on a cluster node and is refused ("cluster
support disabled") by a single server; where it is not allowed (an ACL user without it, a proxy),
``INFO cluster`` says ``cluster_enabled:1`` or ``0``. When neither answers, the server counts as
a single one: a least-privilege ACL user of a single server is allowed neither, and keeps
working. The probe's connection uses database 0 whatever the URL says: a cluster node may refuse
another one at connect (``SELECT``), before it could tell what it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError
from .ops import Steps

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["ais_cluster", "check_cluster_url", "cluster_retries", "is_cluster", "probe_url"]

_Probe = Generator[tuple[str, ...], Any, bool]


def _enabled(info: object) -> bool:
    """``cluster_enabled`` of an ``INFO cluster`` reply (parsed by redis-py, or raw text)."""
    if isinstance(info, dict):
        return str(info.get("cluster_enabled", "0")) == "1"
    text = info.decode(errors="replace") if isinstance(info, bytes) else str(info)
    return "cluster_enabled:1" in text.replace(" ", "")


def _probe(refused: type[BaseException]) -> _Probe:
    """True on a cluster node. ``refused`` is redis-py's ``ResponseError``: an answer, where
    any other error (unreachable, a timeout) is thrown out to the caller."""
    try:
        yield ("CLUSTER INFO",)
        return True
    except refused as exc:
        if "cluster support disabled" in str(exc).lower():
            return False
    try:
        return _enabled((yield ("INFO", "cluster")))
    except refused:
        return False


def is_cluster(client: redis.Redis) -> bool:
    """Whether ``client``'s server is a Redis Cluster node (one or two round trips)."""
    import redis

    execute: Callable[..., Any] = client.execute_command  # untyped in redis-py
    steps = Steps(_probe(redis.ResponseError))
    while (command := steps.next()) is not None:
        try:
            steps.result = execute(*command)
        except BaseException as exc:  # into the probe, which knows what an answer means
            steps.error = exc
    return bool(steps.value)


async def ais_cluster(client: redis.asyncio.Redis) -> bool:
    """:func:`is_cluster` on an asyncio client."""
    import redis

    execute: Callable[..., Awaitable[Any]] = client.execute_command  # untyped in redis-py
    steps = Steps(_probe(redis.ResponseError))
    while (command := steps.next()) is not None:
        try:
            steps.result = await execute(*command)
        except BaseException as exc:
            steps.error = exc
    return bool(steps.value)


def probe_url(url: str) -> str:
    """``url`` without its database (path or ``db=`` option): what the probe connects to."""
    parts = urlsplit(url)
    query = "&".join(
        item for item in parts.query.split("&") if item and not item.lower().startswith("db=")
    )
    return urlunsplit((parts.scheme, parts.netloc, "", query, parts.fragment))


def check_cluster_url(url: str, what: str) -> None:
    """Refuse what a cluster cannot do: a database other than 0 (no ``SELECT`` on a cluster)."""
    from redis.connection import parse_url as untyped

    parse_url: Callable[[str], dict[str, Any]] = untyped
    parts = urlsplit(url)
    if parts.scheme == "unix":
        raise ConfigurationError(
            f"{what} is a Redis Cluster node behind a unix:// socket; a cluster client needs "
            "redis:// or rediss:// (host and port)"
        )
    try:
        db = int(parse_url(url).get("db", 0))
    except ValueError:
        raise ConfigurationError(f"{what}: the database number is not a number") from None
    if db != 0:
        raise ConfigurationError(
            f"{what} is a Redis Cluster node, and a cluster has database 0 only (found /{db}): "
            "use /0, or no database, in the URL"
        )


def cluster_retries(timeout: float, base: float, cap: float) -> int:
    """How many retries, backing off ``base`` doubling to ``cap`` (with jitter, about half of
    each on average), fit about ``timeout`` seconds: a command retries through a failover or a
    resharding for about as long as one request may wait, then reports "unavailable"."""
    total, pause, count = 0.0, base, 0
    while total < timeout and count < 20:
        pause = min(pause * 2, cap)
        total += pause / 2
        count += 1
    return max(count, 1)
