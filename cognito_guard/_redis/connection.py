"""The connection to Redis (a single server or a cluster), and which of its errors mean
"unavailable"."""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._values import seconds, whole
from ..errors import ConfigurationError
from .cluster import ais_cluster, check_cluster_url, cluster_retries, is_cluster, probe_url
from .forks import at_fork
from .urls import check_url, describe, redact_url, url_secrets

if TYPE_CHECKING:
    import asyncio

    from redis.credentials import CredentialProvider

    from ._types import AsyncClient, SyncClient

__all__ = ["Outage", "RedisConnection", "unavailable_errors"]

log = logging.getLogger("cognito_guard")

_INSTALL_HINT = "install it with: pip install 'cognito-guard[redis]'"


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.cluster
        import redis.cluster
    except ImportError:
        raise ConfigurationError(
            f"using Redis needs the 'redis' package (redis-py); {_INSTALL_HINT}"
        ) from None
    return redis


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis did not do it": every feature answers them alike.

    An unreachable server (connection errors, timeouts, a socket's ``OSError``), and a server
    that refuses: ``READONLY`` from a replica during a failover, ``OOM`` at ``maxmemory``,
    ``LOADING``, ``NOPERM``, ``CLUSTERDOWN``, ``TRYAGAIN`` and every other ``redis.RedisError``;
    and what the cluster client gives up with (``RedisClusterException``: no reachable node, a
    slot no master serves), once it has refreshed its slot map and retried. None of them is a
    verdict on the request, so each feature turns them into its own "unavailable" answer (a
    503, or working without the shared state), never a 500.

    Example::

        try:
            conn.sync.set(name, value)
        except unavailable_errors() as exc:
            raise SessionStoreUnavailable(describe(exc, conn.secrets)) from None
    """
    redis = _import_redis()
    return (redis.RedisError, redis.exceptions.RedisClusterException, OSError)


class Outage:
    """Whether a feature is in a Redis outage, so that it logs the start and the end once each
    (not once per failing call), and never logs the connection's credentials.

    Example::

        outage = Outage(conn)
        ...
        except unavailable_errors() as exc:
            outage.began(exc, "Redis at %s is unreachable (%s): working without it")
        ...
        outage.ended("Redis at %s is reachable again", level=logging.INFO)
    """

    __slots__ = ("_connection", "_down", "_lock")

    def __init__(self, connection: RedisConnection) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._down = False

    @property
    def down(self) -> bool:
        """True between a failure and the next success."""
        return self._down

    def began(self, exc: BaseException, message: str, *args: object) -> bool:
        """Record a failure; on the first one of an outage, log ``message`` at WARNING with the
        connection's URL, then ``exc`` described without credentials, then ``args``; and return
        True (False for the failures after it)."""
        with self._lock:
            first, self._down = not self._down, True
        if first:
            conn = self._connection
            log.warning(message, conn.url, describe(exc, conn.secrets), *args)
        return first

    def ended(self, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Record a success; on the first one after a failure, log ``message`` at ``level``
        with the connection's URL, then ``args``; and return True (False otherwise)."""
        if not self._down:  # the usual case takes no lock
            return False
        with self._lock:
            back, self._down = self._down, False
        if back:
            log.log(level, message, self._connection.url, *args)
        return back

    def after_fork(self) -> None:
        """Call in a forked child: a fresh lock (another thread may have held it at the fork)."""
        self._lock = threading.Lock()


class RedisConnection:
    """A Redis endpoint, a single server or a cluster: a sync client, and an asyncio client per
    event loop, from one URL.

    Give ``url`` (the clients are made here, with timeouts), or ready clients: ``client`` (a
    ``redis.Redis`` or a ``redis.cluster.RedisCluster``) and optionally ``async_client`` (a
    ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``, of the same kind; without
    it async callers run the sync client in a thread). Clients you pass are yours to configure
    and close.

    A URL may name any node of a Redis Cluster: the first connection asks the server (see
    ``cluster.py``) and, on a cluster, makes cluster clients instead (``RedisCluster``, which
    follows ``MOVED``/``ASK``, refreshes its slot map after a connection error or a
    ``CLUSTERDOWN``, and retries for about ``timeout`` seconds). :attr:`cluster` tells which.

    Example::

        conn = RedisConnection("redis://127.0.0.1:6379/0", timeout=2.0)
        conn.sync.set("k", b"v")

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` or
            ``unix:///path.sock``; checked here. Query options go to redis-py
            (``rediss://host:6380/0?ssl_ca_certs=/etc/ca.pem&ssl_cert_reqs=required``).
        client, async_client: clients of your own instead of ``url``.
        timeout: connect and socket timeout in seconds for the clients made from ``url``.
        retries: how often a failed command is retried (short jittered back-off) by the clients
            made from ``url``; None keeps redis-py's default on a single server (10, backing
            off up to 1 s each), and on a cluster as many as fit in ``timeout``. An owner with
            its own back-off (a sync thread) wants few, to notice an outage fast.
        credential_provider: a ``redis.credentials.CredentialProvider`` asked for (username,
            password) at every new connection of the clients made from ``url`` (ElastiCache IAM
            authentication: a short-lived token); the URL then holds no credentials.
        what: how errors name this connection's owner (``"RedisRevocations"``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: SyncClient | None = None,
        async_client: AsyncClient | None = None,
        timeout: float = 2.0,
        retries: int | None = None,
        credential_provider: CredentialProvider | None = None,
        what: str = "Redis",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(f"{what} needs a Redis URL or client=..., not both")
        if async_client is not None and client is None:
            raise ConfigurationError(f"{what}: async_client=... needs client=... as well")
        self.what = what
        self.timeout = seconds(timeout, f"{what}: timeout")
        self.retries = whole(retries, f"{what}: retries") if retries is not None else None
        self._url = check_url(url, f"{what}'s Redis URL") if url is not None else None
        if credential_provider is not None:
            if self._url is None:
                raise ConfigurationError(
                    f"{what}: credential_provider=... is for the clients made from a URL; "
                    "give a client you pass in its own"
                )
            parts = urlsplit(self._url)
            if parts.username or parts.password:
                raise ConfigurationError(
                    f"{what}: the URL holds credentials and credential_provider=... gives them "
                    "too: remove them from the URL"
                )
        self.credential_provider = credential_provider
        self._owned = client is None
        self._sync: SyncClient | None = client
        self._given_async = async_client
        # None until the first connection tells (a cluster client passed in tells at once).
        self._cluster: bool | None = None
        if client is not None:
            redis = _import_redis()
            kinds = (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)
            if isinstance(client, kinds):
                self._cluster = True
            if async_client is not None and isinstance(async_client, kinds) != bool(self._cluster):
                raise ConfigurationError(
                    f"{what}: client=... and async_client=... must both be cluster clients "
                    "(RedisCluster), or neither"
                )
        # Weak keys are a safety net only: an entry references its loop; _forget removes it.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient]
        self._async = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._connecting = threading.Lock()  # held while the sync client connects (I/O)
        at_fork(self)  # a forked child gets fresh locks
        if self._url is not None:
            _import_redis()  # fail at construction, not at the first request

    @property
    def url(self) -> str:
        """The URL with credentials redacted (safe to log), or a description of the client."""
        if self._url is not None:
            return redact_url(self._url)
        return "(a client passed in)"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in text: the URL's credentials, in every spelling."""
        if self._url is None:
            return ()
        return url_secrets(self._url)

    @property
    def cluster(self) -> bool | None:
        """True on a Redis Cluster, False on a single server, None before the first connection
        (:attr:`sync` or :meth:`for_loop` connects)."""
        return self._cluster

    def __repr__(self) -> str:
        return f"RedisConnection({self.url!r})"

    def _options(self, *, for_asyncio: bool = False, cluster: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 30,
        }
        if self.credential_provider is not None:
            options["credential_provider"] = self.credential_provider
        base, cap = (0.02, 0.5) if cluster else (0.01, 0.2)
        retries = self.retries
        if retries is None and cluster:
            retries = cluster_retries(self.timeout, base, cap)
        if retries is not None:
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.backoff import ExponentialWithJitterBackoff
            from redis.retry import Retry

            backoff = ExponentialWithJitterBackoff(base=base, cap=cap)
            # Each client takes the retry policy of its own kind: the asyncio one sleeps with
            # asyncio.sleep, where the sync one would block the event loop. A cluster client
            # retries whole commands with it, after refreshing its slot map.
            if for_asyncio:
                options["retry"] = AsyncRetry(backoff, retries)
            else:
                options["retry"] = Retry(backoff, retries)
        return options

    def _unix(self) -> bool:
        return self._url is not None and self._url.startswith("unix:")

    @property
    def sync(self) -> SyncClient:
        """The sync client (made, and the server's kind found out, on first use)."""
        client = self._sync
        if client is None or self._cluster is None:
            with self._connecting:
                if self._sync is None:
                    self._sync = self._connect()
                elif self._cluster is None:  # a client passed in: is it the right kind?
                    self._refuse_plain(is_cluster(self._sync))  # type: ignore[arg-type]
                client = self._sync
        return client

    def _refuse_plain(self, found: bool) -> None:
        """Record what a plain client passed in is connected to; refuse a cluster node (its
        keys would be answered with MOVED)."""
        if found:
            raise ConfigurationError(
                f"{self.what}: client=... is a redis.Redis connected to a Redis Cluster node; "
                "pass a redis.cluster.RedisCluster (and a redis.asyncio.cluster.RedisCluster)"
            )
        self._cluster = False

    def _connect(self) -> SyncClient:
        redis = _import_redis()
        url = self._url or ""
        if self._cluster is None and not self._unix():
            probe = redis.Redis.from_url(probe_url(url), **self._options())
            try:
                found = is_cluster(probe)
                if found:
                    check_cluster_url(url, f"{self.what}'s Redis URL")
            finally:
                probe.close()
            self._cluster = found
        if self._cluster:
            options = self._options(cluster=True)
            return redis.cluster.RedisCluster.from_url(url, **options)  # type: ignore[no-any-return]
        self._cluster = False
        return redis.Redis.from_url(url, **self._options())  # type: ignore[no-any-return]

    @property
    def has_async(self) -> bool:
        """True when :meth:`for_loop` can give an asyncio client (a URL, or one was passed)."""
        return self._url is not None or self._given_async is not None

    async def for_loop(self) -> AsyncClient:
        """The asyncio client of the running event loop (made on first use per loop)."""

        if self._given_async is not None:
            if self._cluster is None:  # plain clients passed in: is this one the right kind?
                self._refuse_plain(await ais_cluster(self._given_async))  # type: ignore[arg-type]
            return self._given_async
        if self._url is None:
            raise ConfigurationError(f"{self.what} was given a sync client only")
        import asyncio  # here, not at the top: a sync-only process never needs it

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.get(loop)
        if entry is not None:
            return entry.client
        client = await self._aconnect()
        with self._lock:
            entry = self._async.get(loop)
            if entry is None:
                entry = _LoopClient(client, self._forget)
                self._async[loop] = entry
                return client
        await client.aclose()  # another task of this loop connected meanwhile: use its client
        return entry.client

    async def _aconnect(self) -> AsyncClient:
        redis = _import_redis()
        url = self._url or ""
        if self._cluster is None and not self._unix():
            probe = redis.asyncio.Redis.from_url(probe_url(url), **self._options(for_asyncio=True))
            try:
                found = await ais_cluster(probe)
                if found:
                    check_cluster_url(url, f"{self.what}'s Redis URL")
            finally:
                await probe.aclose()
            self._cluster = found
        if self._cluster:
            options = self._options(for_asyncio=True, cluster=True)
            cluster_class = redis.asyncio.cluster.RedisCluster
            return cluster_class.from_url(url, **options)  # type: ignore[no-any-return]
        self._cluster = False
        options = self._options(for_asyncio=True)
        return redis.asyncio.Redis.from_url(url, **options)  # type: ignore[no-any-return]

    def _forget(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._async.pop(loop, None)

    def after_fork(self) -> None:
        """Call in a forked child: fresh locks (another thread may have held them at the fork),
        and no asyncio clients (they belong to the parent's loops). redis-py's sync client
        notices the new process itself and reconnects."""
        self._lock = threading.Lock()
        self._connecting = threading.Lock()
        self._async = weakref.WeakKeyDictionary()

    def close(self) -> None:
        """Close the sync client this connection made (not one passed in).

        An asyncio client can only be closed on its own loop: see :meth:`aclose`.
        """
        if not self._owned:
            return
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the running loop's asyncio client and the sync client this connection made."""
        import asyncio

        if self._owned:
            with self._lock:
                entry = self._async.pop(asyncio.get_running_loop(), None)
            if entry is not None:
                await entry.closer.aclose()
        self.close()


async def _close_at_loop_end(
    client: AsyncClient, forget: Callable[[asyncio.AbstractEventLoop], None]
) -> AsyncGenerator[None, None]:
    import asyncio

    try:
        yield
    finally:
        # The entry references its loop through the client's connections: drop it, or the loop
        # (and everything it holds) would live as long as the RedisConnection.
        forget(asyncio.get_running_loop())
        with contextlib.suppress(Exception):  # the connection may be broken already
            await client.aclose()


class _LoopClient:
    """An asyncio client, closed on its own loop when that loop shuts down.

    The client's connections belong to its loop and can only be closed there. An async generator
    that closes it is started here, which registers it with the running loop's async-generator
    hooks; ``loop.shutdown_asyncgens()``, which ``asyncio.run``, asgiref (a loop per request in
    Flask and Django) and uvicorn run before closing a loop, then finalises it on that loop. So a
    loop-per-request application does not leak a connection per request.
    """

    __slots__ = ("client", "closer")

    def __init__(
        self, client: AsyncClient, forget: Callable[[asyncio.AbstractEventLoop], None]
    ) -> None:
        self.client = client
        self.closer = _close_at_loop_end(client, forget)
        # One synchronous step to the generator's first yield: that is its first iteration.
        with contextlib.suppress(StopIteration):
            self.closer.__anext__().send(None)
