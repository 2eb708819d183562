"""The revocation list shared by every process through Redis: :class:`RedisRevocations`.

Each process checks its own local copy (a few dictionary lookups, no network call per request);
a background thread keeps that copy current from Redis::

    process A                       Redis                           process B
    revoke_session(o) --MULTI--> ZADD {prefix}revocations --PUBLISH--> local copy += o
       local copy += o           (score = expiry, pruned)    re-sync every few seconds
                                                                (catches a lost message)

On a Redis Cluster the write is one script in the slot of ``{prefix}{revocations}``, and the
announcement a sharded message (``SPUBLISH``) on that same name.

Example::

    revocations = RedisRevocations("rediss://app:secret@cache.example.com:6380/0")
    verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
    revocations.revoke_session(claims["origin_jti"])    # every process refuses it within ~1 s
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from .._redis import Outage, RedisConnection, check_prefix, describe, unavailable_errors
from .._redis.forks import at_fork, forget_at_fork
from .._singleflight import Flight, SingleFlight
from .._values import seconds
from ..errors import ConfigurationError, RevocationsUnavailableError, shorten
from ._store import _RedisList
from ._wire import parse_member, parse_message
from .memory import _LocalList
from .protocols import Revocation

if TYPE_CHECKING:
    from redis.credentials import CredentialProvider

    from .._redis._types import AsyncClient, SyncClient

__all__ = ["OnUnavailable", "RedisRevocations"]

log = logging.getLogger("cognito_guard")

OnUnavailable = Literal["fail_closed", "fail_open"]


def _staleness_options(max_staleness: object, resync_interval: object) -> tuple[float, float]:
    """(max_staleness, resync_interval): each as given, or its default.

    ``resync_interval`` defaults to 5 s, or half of ``max_staleness`` when that is shorter: two
    syncs fit in the staleness bound, so one slow or lost re-sync does not make a healthy list
    count as stale. So only an interval the caller chose can contradict the bound, and the
    refusal names what the caller passed.
    """
    staleness = _MAX_STALENESS if max_staleness is None else seconds(max_staleness, "max_staleness")
    if resync_interval is None:
        return staleness, min(_RESYNC_INTERVAL, staleness / 2)
    interval = seconds(resync_interval, "resync_interval")
    if interval >= staleness:
        bound = (
            f"the default max_staleness ({staleness:g}); pass a longer max_staleness too"
            if max_staleness is None
            else f"max_staleness={staleness:g}"
        )
        raise ConfigurationError(
            f"resync_interval={interval:g} must be shorter than {bound}: a healthy list would "
            "count as stale between two syncs"
        )
    return staleness, interval


class RedisRevocations(_LocalList):
    """A revocation list shared by every process through Redis (or Valkey, ElastiCache, ...).

    A background thread keeps the local copy current: it subscribes to the channel, loads the
    whole list, applies each announced entry, and re-synchronises every ``resync_interval``
    seconds: a cheap check of the write counter against the messages received, and a full read
    when a message was lost (while reconnecting) or at least every 12 re-syncs. After an error
    it reconnects with back-off; the local copy keeps serving meanwhile, and keeps every entry it
    has until that entry expires, even if Redis loses it.

    A check that finds the local copy older than ``max_staleness`` (the thread frozen with the
    process, as AWS Lambda freezes an instance between invocations; or Redis out of reach) first
    catches up in the caller: it reads the whole list from Redis, one round trip within
    ``timeout`` (:meth:`catch_up`; :meth:`acatch_up` without blocking an event loop, which
    ``averify`` awaits). Only if that fails too does the check raise
    :class:`~cognito_guard.RevocationsUnavailableError` (``on_unavailable="fail_closed"``, the
    default: HTTP 503), or accept and log one warning per outage (``"fail_open"``). A token
    already on the local list is refused either way.

    Writes go to Redis first and to the local copy at once; a write Redis does not take raises
    :class:`~cognito_guard.RevocationsUnavailableError` (the entry is still refused by this
    process): a revocation is never dropped silently.

    On a Redis Cluster (a URL of any node: ElastiCache Serverless, cluster-mode ElastiCache,
    MemoryDB) the list lives in one slot, written by a script and announced by sharded pub/sub;
    a failover costs at most a few failed syncs, after which the thread finds the new master.

    Example::

        with RedisRevocations("redis://127.0.0.1:6379/0") as revocations:
            verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
            revocations.revoke_session(origin_jti)
            await revocations.arevoke_token(jti)

    Args:
        url: ``redis://``, ``rediss://`` (TLS) or ``unix://``; credentials in it are never shown.
            A cluster node's URL needs no option; a cluster has database 0 only.
        client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` of your own instead of
            ``url`` (``async_client`` optionally, of the same kind).
        prefix: the key and channel namespace.
        max_token_lifetime: seconds an entry is kept (the longest access/ID token lifetime).
        max_staleness: seconds without a sync after which ``on_unavailable`` applies
            (default: 60).
        on_unavailable: ``"fail_closed"`` (refuse with 503) or ``"fail_open"`` (accept, warn).
        resync_interval: seconds between re-synchronisations, shorter than ``max_staleness``
            (default: 5, or half of ``max_staleness`` when that is less than 10).
        timeout: connect and socket timeout of the Redis clients made from ``url``.
        credential_provider: a ``redis.credentials.CredentialProvider`` for the clients made
            from ``url`` (ElastiCache IAM authentication), instead of credentials in the URL.
        start_timeout: how long the constructor waits at most for the first load (default:
            ``timeout``); it returns as soon as that load succeeds or fails, and the thread
            carries on in the background.
        clock: returns epoch seconds: expiries and staleness (injectable for tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: SyncClient | None = None,
        async_client: AsyncClient | None = None,
        prefix: str = "cognito_guard:",
        max_token_lifetime: float = 86400,
        max_staleness: float | None = None,
        on_unavailable: OnUnavailable = "fail_closed",
        resync_interval: float | None = None,
        timeout: float = 2.0,
        credential_provider: CredentialProvider | None = None,
        start_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_token_lifetime, clock)
        if not isinstance(prefix, str) or not prefix.isprintable():
            raise ConfigurationError("prefix must be a string of printable characters")
        check_prefix(prefix, "RedisRevocations")
        self.max_staleness, self.resync_interval = _staleness_options(
            max_staleness, resync_interval
        )
        if on_unavailable not in ("fail_closed", "fail_open"):
            raise ConfigurationError(
                f"on_unavailable must be 'fail_closed' or 'fail_open', not {on_unavailable!r}"
            )
        self.on_unavailable: OnUnavailable = on_unavailable
        self.prefix = prefix
        self._conn = RedisConnection(
            url,
            client=client,
            async_client=async_client,
            timeout=timeout,
            retries=1,  # one quick retry (a dropped idle connection); the thread backs off itself
            credential_provider=credential_provider,
            what="RedisRevocations",
        )
        self._redis = _RedisList(self._conn, prefix)
        self._errors = unavailable_errors()
        self._last_sync: float | None = None  # by self._clock; None until the first load
        self._version: int | None = None  # the write counter at the last sync
        self._messages = 0  # messages received since the last sync
        self._syncs_since_full = 0
        self._outage = Outage(self._conn)  # between a failed sync and the next good one
        self._warned_open = False
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._synced = threading.Event()
        # The first attempt is over: the list loaded, the load failed, or the server refused
        # the options (a configuration error, raised by the constructor).
        self._settled = threading.Event()
        self._refused: ConfigurationError | None = None  # what the server said of the options
        self.syncs = 0  # successful syncs (load or re-sync), for tests and metrics
        self.loads = 0  # of which full reads of the list
        self.catch_ups = 0  # full reads made by a check that found the list stale
        self.failed_catch_ups = 0
        self._catch_ups: SingleFlight[None] = SingleFlight()
        self._catch_up_retry_at = -math.inf  # by time.monotonic: the back-off after a failure
        self._thread = self._start_thread()
        at_fork(self)
        # Only as long as the first attempt takes: a Redis that refuses the connection is not
        # waited for (readiness says "not loaded yet"; the thread goes on trying).
        wait = self._conn.timeout if start_timeout is None else start_timeout
        self._settled.wait(max(0.0, wait))
        if self._refused is not None:  # e.g. /1 on a cluster: the list could never load
            self.close()
            raise self._refused
        if not self._synced.is_set():
            log.warning(
                "RedisRevocations could not load the list from %s yet; "
                "retrying in the background (%s until then)",
                self._conn.url,
                "refusing tokens" if on_unavailable == "fail_closed" else "accepting tokens",
            )

    # -- the check ------------------------------------------------------------------------------

    @property
    def last_sync(self) -> float | None:
        """When (by ``clock``) the local copy was last confirmed current; None before that."""
        return self._last_sync

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise when the token is revoked, or when the list is too stale to say (fail_closed).

        A stale list catches up first (:meth:`catch_up`), then judges.
        """
        if self.is_revoked(claims):
            raise self._revoked_error(claims)
        last = self._last_sync
        if last is not None and self._clock() - last <= self.max_staleness:
            return
        self.catch_up()
        if self.is_revoked(claims):
            raise self._revoked_error(claims)
        if self._stale():
            self._unavailable()

    # -- catching up in the caller --------------------------------------------------------------

    def catch_up(self) -> None:
        """Bring a stale local copy up to date now, in the calling thread.

        Nothing to do while the copy is within ``max_staleness``. Otherwise it reads the whole
        list from Redis (one round trip, within ``timeout``); callers that find a catch-up under
        way wait for it instead, unless Redis failed last (then they judge at once). After a
        failed catch-up the next is tried a second later at the earliest, so that an outage
        costs one caller a second a round trip, not every caller. Never raises: a failure
        leaves the copy stale, for the check to judge.

        Example (at the start of an invocation, to pay the round trip before the request)::

            revocations.catch_up()
        """
        flight, mine = self._plan_catch_up()
        if flight is not None and not mine:
            flight.landed(within=self._conn.timeout)
        elif flight is not None:
            now = self._clock()
            with self._catching_up(flight):
                self._caught_up(now, self._redis.read(now))

    async def acatch_up(self) -> None:
        """Like :meth:`catch_up`, without blocking the event loop (the asyncio client, or the
        sync one on a thread when only a sync ``client`` was given)."""
        last = self._last_sync
        if last is not None and self._clock() - last <= self.max_staleness:
            return
        flight, mine = self._plan_catch_up()
        if flight is not None and not mine:
            await flight.alanded(within=self._conn.timeout)
        elif flight is not None:
            now = self._clock()
            with self._catching_up(flight):
                if self._conn.has_async:
                    rows = await self._redis.aread(await self._conn.for_loop(), now)
                else:
                    import asyncio

                    rows = await asyncio.to_thread(self._redis.read, now)
                self._caught_up(now, rows)

    def _stale(self) -> bool:
        last = self._last_sync
        return last is None or self._clock() - last > self.max_staleness

    def _plan_catch_up(self) -> tuple[Flight[None] | None, bool]:
        """``(flight, mine)``: the catch-up this caller performs (mine) or waits for; no flight
        when none is due (current, closed, backing off, or joining one in an outage)."""
        with self._state_lock:
            if self._stop.is_set() or not self._stale():
                return None, False
            flight = self._catch_ups.current
            if flight is not None:
                return (None if self._outage.down else flight), False
            if time.monotonic() < self._catch_up_retry_at:
                return None, False
            return self._catch_ups.take_off(), True

    @contextlib.contextmanager
    def _catching_up(self, flight: Flight[None]) -> Iterator[None]:
        """Around the read of a catch-up: a failure backs off, and the flight always lands."""
        try:
            yield
        except self._errors as exc:
            self._catch_up_retry_at = time.monotonic() + _CATCH_UP_BACKOFF
            self.failed_catch_ups += 1
            self._on_error(exc)
        finally:
            with self._state_lock:
                self._catch_ups.clear(flight)
            flight.land(None)

    def _load(self, rows: list[tuple[bytes, float]]) -> None:
        """Apply every entry of a full read of the list (malformed ones are logged once)."""
        for member, score in rows:
            entry = parse_member(member, score)
            if entry is None:
                self._log_bad(member, "entry in Redis")
            else:
                self._apply(entry)

    def _caught_up(self, now: float, rows: list[tuple[bytes, float]]) -> None:
        self._load(rows)
        self._prune(now)
        # Every entry written before ``now`` is in the copy: it is current as of then. The thread
        # keeps its own counters: its next re-sync still compares what it saw, and reads all
        # when that disagrees.
        with self._state_lock:
            if self._last_sync is None or now > self._last_sync:
                self._last_sync = now
            self._warned_open = False
        self.catch_ups += 1
        self._synced.set()
        self._log_if_recovered()

    def _unavailable(self) -> None:
        last = self._last_sync
        age = (
            "never synchronised"
            if last is None
            else f"last synchronised {self._clock() - last:.0f}s ago"
        )
        if self.on_unavailable == "fail_closed":
            raise RevocationsUnavailableError(
                f"the revocation list from {self._conn.url} is {age} "
                f"(max_staleness {self.max_staleness:g}s)",
                retry_after=int(min(self.resync_interval, 30)) + 1,
            )
        with self._state_lock:
            warned, self._warned_open = self._warned_open, True
        if not warned:
            log.warning(
                "the revocation list from %s is %s; accepting tokens "
                "(on_unavailable='fail_open') until Redis is back",
                self._conn.url,
                age,
            )

    # -- writes ---------------------------------------------------------------------------------

    def _record(self, entry: Revocation) -> None:
        self._apply(entry)  # this process refuses it at once, whatever Redis says
        try:
            self._redis.write(entry, self._clock(), self.max_token_lifetime)
        except self._errors as exc:
            raise self._write_failed(entry, exc) from None

    async def _arecord(self, entry: Revocation) -> None:
        self._apply(entry)
        try:
            if self._conn.has_async:
                await self._redis.awrite(entry, self._clock(), self.max_token_lifetime)
            else:
                import asyncio

                await asyncio.to_thread(
                    self._redis.write, entry, self._clock(), self.max_token_lifetime
                )
        except self._errors as exc:
            raise self._write_failed(entry, exc) from None

    def _write_failed(self, entry: Revocation, exc: BaseException) -> RevocationsUnavailableError:
        why = describe(exc, self._conn.secrets)
        log.error(
            "the revocation of %s %s was NOT recorded in %s (%s); only this "
            "process refuses it: retry",
            entry.kind,
            shorten(entry.id),
            self._conn.url,
            why,
        )
        return RevocationsUnavailableError(
            f"the revocation of {entry.kind} {shorten(entry.id)} was not recorded in "
            f"{self._conn.url} ({why}); other processes do not refuse it: retry"
        )

    # -- the background thread ------------------------------------------------------------------

    def _run(self) -> None:
        backoff = _MIN_BACKOFF
        while not self._stop.is_set():
            subscription = None
            try:
                # A keyed command first: after a failover it makes a cluster client find the
                # slot's new master, where the subscription must go.
                self._redis.version(self._clock())
                # Subscribe before loading: an entry written in between arrives as a message.
                subscription = self._redis.subscribe()
                self._sync(full=True)
                backoff = _MIN_BACKOFF
                next_sync = time.monotonic() + self.resync_interval
                while not self._stop.is_set():
                    wait = min(_POLL, max(0.0, next_sync - time.monotonic()))
                    data = subscription.get(timeout=wait)
                    if data is not None:
                        self._on_message(data)
                    if time.monotonic() >= next_sync:
                        self._sync(full=False)
                        next_sync = time.monotonic() + self.resync_interval
            except self._errors as exc:
                self._on_error(exc)
                self._settled.set()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            except ConfigurationError as exc:  # the kind of server rules the options out for good
                self._refused = exc
                self._settled.set()
                log.error("RedisRevocations cannot use %s: %s", self._conn.url, exc)
                return
            except Exception as exc:  # a bug must not end the thread: the list would go stale
                log.error(
                    "unexpected %s in the revocation sync; restarting it",
                    type(exc).__name__,
                )
                self._settled.set()
                self._stop.wait(_MAX_BACKOFF)
            finally:
                if subscription is not None:
                    subscription.close()

    def _sync(self, *, full: bool) -> None:
        now = self._clock()
        version = self._redis.version(now)
        messages, self._messages = self._messages, 0
        previous, self._version = self._version, version
        self._syncs_since_full += 1
        # Every write bumps the counter and publishes once: as many messages as the counter
        # moved means none was lost. Otherwise (a reconnect, a flush, a message still in flight)
        # read everything; and now and then anyway, for writers that bypass the counter.
        lost = version is None or previous is None or version - previous != messages
        if full or lost or self._syncs_since_full >= _FULL_READ_EVERY:
            self._load(self._redis.read(now))
            self.loads += 1
            self._syncs_since_full = 0
        self._prune(now)
        self._last_sync = now
        self.syncs += 1
        with self._state_lock:
            self._warned_open = False
        self._log_if_recovered()
        self._synced.set()
        self._settled.set()

    def _log_if_recovered(self) -> None:
        # One message for the end of an outage, whichever read ended it (the thread's re-sync or
        # a caller's catch-up): operators and the load harness watch for it.
        self._outage.ended(
            "the revocation list is synchronised again with %s (%d entries)", len(self)
        )

    def _on_message(self, data: object) -> None:
        self._messages += 1
        entry = parse_message(data) if isinstance(data, (bytes, str)) else None
        if entry is None:
            self._log_bad(data if isinstance(data, (bytes, str)) else repr(data), "message")
            return
        self._apply(entry)

    def _on_error(self, exc: BaseException) -> None:
        self._outage.began(
            exc,
            "the revocation list lost Redis at %s (%s); serving the local copy of %d entries "
            "and reconnecting",
            len(self),
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="cognito_guard-revocations", daemon=True)
        thread.start()
        return thread

    def after_fork(self) -> None:
        """In a forked child (gunicorn ``--preload``, uWSGI): only the forking thread survives,
        so the sync thread is started again, with fresh locks. The copy so far is kept."""
        if self._stop.is_set():
            return
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._outage.after_fork()
        self._catch_ups = SingleFlight()  # one under way in the parent never lands here
        self._stop = threading.Event()
        self._conn.after_fork()
        self._thread = self._start_thread()

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """Block until the first load has completed (or ``timeout``); True when it has."""
        return self._synced.wait(timeout)

    def close(self) -> None:
        """Stop the background thread and close the Redis client made from the URL."""
        self._stop.set()
        forget_at_fork(self)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self._conn.timeout + 1)
        self._conn.close()

    async def aclose(self) -> None:
        """Close the running event loop's asyncio client, then everything :meth:`close` stops.

        An asyncio client belongs to its loop: close it there before that loop ends.
        """
        import asyncio

        await self._conn.aclose()
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return (
            f"RedisRevocations({self._conn.url!r}, prefix={self.prefix!r}, entries={len(self)}, "
            f"on_unavailable={self.on_unavailable!r})"
        )


_MAX_STALENESS = 60.0
_RESYNC_INTERVAL = 5.0  # the default, when max_staleness leaves room for it
_FULL_READ_EVERY = 12  # re-syncs: with the default interval, a full read at least every minute
_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 2.0
_POLL = 0.05  # how often the thread looks at the stop flag between messages
_CATCH_UP_BACKOFF = 1.0  # seconds after a failed catch-up before a check tries another
