"""The connection to Redis, and which of its errors mean "unavailable"."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from .urls import check_url, redact_url, url_secrets

if TYPE_CHECKING:
    import asyncio

    import redis
    import redis.asyncio

__all__ = ["Outage", "RedisConnection", "unavailable_errors"]

_INSTALL_HINT = "install it with: pip install 'cognito-guard[redis]'"


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            f"using Redis needs the 'redis' package (redis-py); {_INSTALL_HINT}"
        ) from None
    return redis


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "Redis did not do it": every feature answers them alike.

    An unreachable server (connection errors, timeouts, a socket's ``OSError``), and a server
    that refuses: ``READONLY`` from a replica during a failover, ``OOM`` at ``maxmemory``,
    ``LOADING``, ``NOPERM``, ``CLUSTERDOWN`` and every other ``redis.RedisError``. None of them
    is a verdict on the request, so each feature turns them into its own "unavailable" answer
    (a 503, or working without the shared state), never a 500.

    Example::

        try:
            conn.sync.set(name, value)
        except unavailable_errors() as exc:
            raise SessionStoreUnavailable(describe(exc, conn.secrets)) from None
    """
    redis = _import_redis()
    return (redis.RedisError, OSError)


class Outage:
    """Whether a feature is in a Redis outage, so that it logs the start and the end once each
    (not once per failing call).

    Example::

        except unavailable_errors() as exc:
            if outage.began():
                log.warning("Redis is unreachable (%s): ...", describe(exc, conn.secrets))
        ...
        if outage.ended():
            log.info("Redis is reachable again")
    """

    __slots__ = ("_down", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down = False

    @property
    def down(self) -> bool:
        """True between a failure and the next success."""
        return self._down

    def began(self) -> bool:
        """Record a failure; True only for the first one of an outage."""
        with self._lock:
            first, self._down = not self._down, True
        return first

    def ended(self) -> bool:
        """Record a success; True only for the first one after a failure."""
        if not self._down:  # the usual case takes no lock
            return False
        with self._lock:
            back, self._down = self._down, False
        return back

    def after_fork(self) -> None:
        """Call in a forked child: a fresh lock (another thread may have held it at the fork)."""
        self._lock = threading.Lock()


class RedisConnection:
    """A Redis endpoint: a sync client, and an asyncio client per event loop, from one URL.

    Give ``url`` (the clients are made here, with timeouts), or ready clients: ``client`` (a
    ``redis.Redis``) and optionally ``async_client`` (a ``redis.asyncio.Redis``; without it async
    callers run the sync client in a thread). Clients you pass are yours to configure and close.

    Example::

        conn = RedisConnection("redis://127.0.0.1:6379/0", timeout=2.0)
        conn.sync.set("k", b"v")

    Args:
        url: ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...`` or
            ``unix:///path.sock``; checked here.
        client, async_client: clients of your own instead of ``url``.
        timeout: connect and socket timeout in seconds for the clients made from ``url``.
        retries: how often a failed command is retried (short jittered back-off) by the clients
            made from ``url``; None keeps redis-py's default (10, backing off up to 1 s each).
            An owner with its own back-off (a sync thread) wants few, to notice an outage fast.
        what: how errors name this connection's owner (``"RedisRevocations"``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        timeout: float = 2.0,
        retries: int | None = None,
        what: str = "Redis",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(f"{what} needs a Redis URL or client=..., not both")
        if async_client is not None and client is None:
            raise ConfigurationError(f"{what}: async_client=... needs client=... as well")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError(f"{what}: timeout must be a positive number of seconds")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise ConfigurationError(f"{what}: retries must be an int >= 0")
        self.what = what
        self.timeout = float(timeout)
        self.retries = retries
        self._url = check_url(url, f"{what}'s Redis URL") if url is not None else None
        self._owned = client is None
        self._sync: redis.Redis | None = client
        self._given_async = async_client
        # Weak keys are a safety net only: an entry references its loop; _forget removes it.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient]
        self._async = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
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

    def __repr__(self) -> str:
        return f"RedisConnection({self.url!r})"

    def _options(self, *, for_asyncio: bool = False) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 30,
        }
        if self.retries is not None:
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.backoff import ExponentialWithJitterBackoff
            from redis.retry import Retry

            backoff = ExponentialWithJitterBackoff(base=0.01, cap=0.2)
            # Each client takes the retry policy of its own kind: the asyncio one sleeps with
            # asyncio.sleep, where the sync one would block the event loop.
            if for_asyncio:
                options["retry"] = AsyncRetry(backoff, self.retries)
            else:
                options["retry"] = Retry(backoff, self.retries)
        return options

    @property
    def sync(self) -> redis.Redis:
        """The sync client (made on first use from the URL)."""
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    redis = _import_redis()
                    self._sync = redis.Redis.from_url(self._url, **self._options())
                client = self._sync
        assert client is not None  # noqa: S101 - set above
        return client

    @property
    def has_async(self) -> bool:
        """True when :meth:`for_loop` can give an asyncio client (a URL, or one was passed)."""
        return self._url is not None or self._given_async is not None

    def for_loop(self) -> redis.asyncio.Redis:
        """The asyncio client of the running event loop (made on first use per loop)."""
        if self._given_async is not None:
            return self._given_async
        if self._url is None:
            raise ConfigurationError(f"{self.what} was given a sync client only")
        import asyncio  # here, not at the top: a sync-only process never needs it

        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._async.get(loop)
            if entry is None:
                redis = _import_redis()
                client = redis.asyncio.Redis.from_url(self._url, **self._options(for_asyncio=True))
                entry = _LoopClient(client, self._forget)
                self._async[loop] = entry
        return entry.client

    def _forget(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._async.pop(loop, None)

    def after_fork(self) -> None:
        """Call in a forked child: a fresh lock (another thread may have held it at the fork),
        and no asyncio clients (they belong to the parent's loops). redis-py's sync client
        notices the new process itself and reconnects."""
        self._lock = threading.Lock()
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
    client: redis.asyncio.Redis, forget: Callable[[asyncio.AbstractEventLoop], None]
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
        self, client: redis.asyncio.Redis, forget: Callable[[asyncio.AbstractEventLoop], None]
    ) -> None:
        self.client = client
        self.closer = _close_at_loop_end(client, forget)
        # One synchronous step to the generator's first yield: that is its first iteration.
        with contextlib.suppress(StopIteration):
            self.closer.__anext__().send(None)
