"""The JWKS key store: which key verifies a token, and when to fetch the issuer's JWKS again.

The policy (TTL, stale-while-revalidate, unknown-``kid`` cool-down, stale-if-error, back-off,
single flight) is plain code that does no I/O. Fetching is a generator protocol, in the manner of
``httpx.Auth.auth_flow``: :meth:`KeyStore._fetch_flow` yields the URLs to try and receives each
response body (or the exception the attempt raised); a thin sync driver (``httpx.Client``) and a
thin async driver (``httpx.AsyncClient``) feed it. The async path never waits on a thread lock
that is held across I/O, so it never blocks an event loop.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from . import _telemetry
from ._http import aread_capped, client_options, read_capped
from ._jwks import parse_jwks
from ._sansio import Finished, resume
from ._singleflight import Flight, SingleFlight
from ._values import seconds, whole
from .errors import (
    BodyTooLarge,
    ConfigurationError,
    JWKSError,
    KeysUnavailableError,
    UnknownKeyError,
    shorten,
)

if TYPE_CHECKING:  # asyncio is imported where a coroutine runs: the sync path never needs it
    import asyncio

_Flight = Flight[None]  # one JWKS fetch, shared by every caller that waits; the keys it brings are
# recorded in the store, so it lands with None

__all__ = ["JWKSError", "KeyPolicy", "KeyStore", "parse_jwks"]

log = logging.getLogger("cognito_guard")


@dataclass(frozen=True)
class KeyPolicy:
    """How a :class:`KeyStore` fetches and caches a JWKS.

    Example::

        KeyPolicy(ttl=900, unknown_kid_cooldown=10, timeout=2.0)

    Attributes:
        ttl: seconds a fetched JWKS is fresh; after that the next lookup refreshes it. A lookup
            whose ``kid`` is in the cached JWKS does not wait for that refresh: it is served from
            the cached keys while they are usable (see ``stale_if_error``) and the refresh runs
            in the background (stale-while-revalidate). A lookup whose ``kid`` is not in it waits
            for the refresh (at most ``max_wait``).
        unknown_kid_cooldown: a token whose ``kid`` is missing from a fresh JWKS triggers a fetch
            at once (a newly published key is accepted without delay, even right after start-up
            or a refresh), and then no other such fetch for this many seconds, whatever the
            ``kid`` (a penalty box shared by all unknown ``kid`` values), so a flood of random
            ``kid`` values costs at most one fetch per window. Inside the window an unknown
            ``kid`` is refused (401) when the last fetch succeeded, and answered 503 with
            ``Retry-After`` when it failed (the keys cannot be had: the kid may be real).
        stale_if_error: seconds past ``ttl`` during which cached keys keep serving while a refresh
            is under way or refreshes fail. After that, with no successful refresh, they are no
            longer used (fail closed): every lookup waits for a fetch. ``0`` serves no key past
            ``ttl``: the lookup that finds the JWKS expired waits for the refresh.
        backoff_initial, backoff_max: after a failed fetch, no new fetch for ``backoff_initial``
            seconds, doubling per consecutive failure up to ``backoff_max``.
        timeout: connect and read timeout of one HTTP attempt, in seconds.
        max_wait: the longest a request waits for a JWKS fetch, in seconds. The fetch runs apart
            from the request (a thread for ``get_key``, a task for ``aget_key``); a request still
            waiting after ``max_wait`` gets 503 with ``Retry-After`` while the fetch goes on, and
            the requests after it are served from what the fetch brought. Only a request whose
            key is not among the usable cached keys waits at all. On the sync path only
            the thread that starts a fetch waits for it while cached keys still serve (others
            whose token needs it get the 503 at once), so that a slow JWKS endpoint cannot take
            the workers of a thread-per-request server from requests whose keys are cached.
        max_bytes: the largest JWKS response accepted.
        min_key_bits: RSA keys with a smaller modulus are ignored.
    """

    ttl: float = 3600.0
    unknown_kid_cooldown: float = 30.0
    stale_if_error: float = 6 * 3600.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 5.0
    max_wait: float = 1.0
    max_bytes: int = 64 * 1024
    min_key_bits: int = 2048

    def __post_init__(self) -> None:
        for name in ("ttl", "timeout", "max_wait", "backoff_initial", "backoff_max"):
            seconds(getattr(self, name), f"KeyPolicy.{name}")
        for name in ("unknown_kid_cooldown", "stale_if_error"):
            seconds(getattr(self, name), f"KeyPolicy.{name}", zero=True)
        if self.backoff_max < self.backoff_initial:
            raise ConfigurationError("KeyPolicy.backoff_max must be >= backoff_initial")
        whole(self.max_bytes, "KeyPolicy.max_bytes", minimum=1024)
        whole(self.min_key_bits, "KeyPolicy.min_key_bits", minimum=2048)


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    if response.status_code != 200:
        raise JWKSError(f"HTTP {response.status_code}")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(max_bytes)


_FETCH = object()  # a decision: the caller must fetch the JWKS, then decide again
_FETCH_FOR_KID = object()  # the same, for a kid missing from a fresh JWKS (opens a penalty window)
_REFRESH = object()  # serve the cached key at once, and refresh the stale JWKS in the background


# Every key store of the process, for the fork hook below; weak, so that it keeps none alive.
_STORES: weakref.WeakSet[KeyStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A fetch under way at the fork (gunicorn --preload) runs on a thread the child does not
    # have: it would never land, and every request needing keys would wait on it for good. The
    # child keeps the keys it inherited and starts its own fetch when one is due.
    for store in list(_STORES):
        store._lock = threading.Lock()
        store._flights = SingleFlight()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


class KeyStore:
    """The signing keys of one issuer, fetched from its JWKS URL(s) and cached.

    Created by :class:`~cognito_guard.CognitoVerifier` (one per distinct list of JWKS URLs, so
    issuers sharing a JWKS share a store); ``verifier.key_store(issuer)`` returns it.

    Example::

        store = KeyStore(["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X/.well-known/jwks.json"])
        key = store.get_key("abc123", now=time.time())          # sync
        key = await store.aget_key("abc123", now=time.time())   # async

    ``urls`` are tried in order; later ones are fallbacks (a replica Region) used when an earlier
    one cannot be reached. With ``jwks`` and no ``urls`` the store is static and never fetches.
    With both (a JWKS bundled with the deployment), the preloaded keys serve from the start as
    a first fetch would: fresh for ``ttl``, and a ``kid`` missing from them is fetched from the
    URLs at once (within the policy's cool-down), as is the refresh after ``ttl``.
    """

    def __init__(
        self,
        urls: Sequence[str] = (),
        policy: KeyPolicy | None = None,
        *,
        jwks: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy or KeyPolicy()
        self.urls: tuple[str, ...] = tuple(urls)
        if not self.urls and jwks is None:
            raise ConfigurationError("a KeyStore needs JWKS URLs or a preloaded jwks")
        self._clock = clock
        self._transport = transport
        self._async_transport = async_transport
        self._lock = threading.Lock()  # guards the state below; never held across I/O
        self._flights: SingleFlight[None] = SingleFlight()  # the fetch under way
        _STORES.add(self)
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at = -math.inf
        self._retry_at = -math.inf
        # When the last fetch for a kid missing from a fresh JWKS started: the penalty box. Fetches
        # of any other kind (start-up, TTL refresh) do not count, so they never delay a new key.
        self._kid_fetch_at = -math.inf
        self._failures = 0
        self._last_problem = ""  # why the last fetch failed, for KeysUnavailableError
        if jwks is not None:
            try:
                self._keys = parse_jwks(jwks, self.policy.min_key_bits)
            except JWKSError as exc:
                raise ConfigurationError(f"the preloaded jwks is unusable: {exc}") from exc
            # Without URLs these keys are all the store will ever have; with URLs they stand in
            # for the first fetch, so that TTL and rotation apply to them like to fetched keys.
            self._fetched_at = clock() if self.urls else math.inf

    # -- lookups ------------------------------------------------------------------------------

    def fresh_key(self, kid: str, now: float) -> RSAPublicKey | None:
        """The key for ``kid`` if the cached JWKS is fresh and has it; no I/O, no lock."""
        if now - self._fetched_at < self.policy.ttl:
            return self._keys.get(kid)
        return None

    def get_key(self, kid: str, now: float) -> RSAPublicKey:
        """The key for ``kid``, fetching the JWKS (blocking) when the policy says so.

        Raises :class:`UnknownKeyError` or :class:`KeysUnavailableError`.
        """
        key = self.fresh_key(kid, now)
        if key is not None:
            return key
        answer, wait, start = self._plan(kid, now)
        if start is not None:
            # On a thread of its own, so that the request thread can give up after max_wait (or
            # not wait at all: a refresh in the background) without abandoning the fetch.
            self._start_thread(start)
        if wait is None:
            return answer  # type: ignore[return-value]
        if start is None and self._serving(now):
            # On a thread-per-request server a waiting thread is a worker taken from requests
            # whose keys are cached: with a slow JWKS endpoint, a burst of new-key tokens would
            # hold every worker. Only the thread that started the fetch waits for it.
            raise self._still_fetching()
        if not wait.landed(within=self.policy.max_wait):
            raise self._still_fetching()
        return self._decide_after_fetch(kid)

    async def aget_key(self, kid: str, now: float) -> RSAPublicKey:
        """The key for ``kid``, fetching the JWKS without blocking the event loop.

        Raises like :meth:`get_key`.
        """
        key = self.fresh_key(kid, now)
        if key is not None:
            return key
        answer, wait, start = self._plan(kid, now)
        if start is not None:
            background = wait is None
            fetch = self._drive_async(start, background=background)
            task = self._flights.start_task(start, fetch)
            if background:
                task.add_done_callback(functools.partial(self._finish_on_thread, start))
        if wait is None:
            return answer  # type: ignore[return-value]
        if not await wait.alanded(within=self.policy.max_wait):
            raise self._still_fetching()
        return self._decide_after_fetch(kid)

    def _refresh_flight(self, perform: Callable[[_Flight], object]) -> _Flight | None:
        """A fetch now, whatever the JWKS's age (a start-up, see ``CognitoVerifier.hydrate``):
        the one under way, or a new one handed to ``perform``; None without URLs."""
        if not self.urls:
            return None
        with self._lock:
            stranded = self._flights.stranded()
            if stranded is not None:
                self._start_thread(stranded)
            flight = self._flights.current
            if flight is not None:
                return flight
            flight = self._flights.take_off()
        perform(flight)
        return flight

    def _refresh_outcome(self) -> tuple[int, KeysUnavailableError | None]:
        """How many keys serve now, and why the last fetch failed (None: it did not)."""
        now = self._clock()
        with self._lock:
            count = len(self._keys) if self._serving(now) else 0
            error = self._unavailable(self._retry_at, now) if self._failures else None
        return count, error

    def _plan(self, kid: str, now: float) -> tuple[object, _Flight | None, _Flight | None]:
        """Decide; when a fetch is due, join the one in flight or start one (single flight).

        One flight is shared by every caller: threads on ``get_key`` and coroutines of any event
        loop on ``aget_key`` (Flask and asgiref run async views on a loop per request). Returns
        ``(answer, wait, start)``: ``wait`` is the flight to wait for before deciding again
        (``None``: ``answer`` is the key), ``start`` the flight this caller must perform (``None``:
        another caller performs it). A refresh in the background is ``(key, None, flight)``.
        Deciding and joining happen under one lock, so no fetch is ever duplicated.
        """
        with self._lock:
            stranded = self._flights.stranded()
            if stranded is not None:
                self._start_thread(stranded)  # a fetch is worth finishing: a thread takes it over
            flight = self._flights.current
            decision = self._decide(kid, now, may_fetch=True, busy=flight is not None)
            if decision is _REFRESH:
                return self._keys[kid], None, self._flights.take_off()
            if decision is not _FETCH and decision is not _FETCH_FOR_KID:
                return decision, None, None
            if flight is not None:
                return decision, flight, None
            if decision is _FETCH_FOR_KID:
                self._kid_fetch_at = now
            flight = self._flights.take_off()
            return decision, flight, flight

    def _land(self, flight: _Flight) -> None:
        with self._lock:
            self._flights.clear(flight)
        # A stranded task whose flight a thread performed may still be closed (collected) and
        # land it a second time: a flight lands once, later outcomes are ignored.
        flight.land(None)

    def _decide_after_fetch(self, kid: str) -> RSAPublicKey:
        with self._lock:
            decision = self._decide(kid, self._clock(), may_fetch=False, busy=False)
        return decision  # type: ignore[return-value]

    def _decide(self, kid: str, now: float, *, may_fetch: bool, busy: bool) -> object:
        """Return the key, raise the error, or return ``_FETCH``/``_FETCH_FOR_KID``/``_REFRESH``.

        Pure policy; call under the lock. ``busy`` says a fetch is already under way: a caller
        that can be served from stale keys then does not wait for it, and no other starts.
        """
        policy = self.policy
        keys = self._keys
        age = now - self._fetched_at
        if not self.urls:  # static store
            return self._key_or_unknown(kid)
        if age < policy.ttl:
            if kid in keys:
                return keys[kid]
            # Missing from a fresh JWKS: fetch at once unless a fetch for a missing kid started
            # within the cool-down (one window for all kids: random kids cannot multiply fetches).
            # A fetch under way is joined, whatever started it: it costs nothing and may bring
            # the key (a burst of tokens signed with a just-published key).
            next_fetch = max(self._kid_fetch_at + policy.unknown_kid_cooldown, self._retry_at)
            if may_fetch and (busy or now >= next_fetch):
                return _FETCH_FOR_KID
            if self._failures:  # the last fetch failed: the kid may be real, we cannot tell
                raise self._unavailable(next_fetch, now)
            return self._key_or_unknown(kid)
        if age < policy.ttl + policy.stale_if_error and kid in keys:
            # Stale-while-revalidate: a usable cached key is served at once; the refresh it
            # calls for (unless one is under way or backing off) runs apart from every request.
            if may_fetch and not busy and now >= self._retry_at:
                return _REFRESH
            return keys[kid]
        if may_fetch and now >= self._retry_at:
            return _FETCH
        # No fresh JWKS (the refresh failed or is under way): an unknown kid may be a new key.
        raise self._unavailable(self._retry_at, now)

    def _unavailable(self, next_fetch: float, now: float) -> KeysUnavailableError:
        # The cause names the URL(s) tried; without one (no fetch yet), name the first.
        cause = self._last_problem or self.urls[0]
        return KeysUnavailableError(
            f"no signing keys are available ({self._failures} failed attempt(s)): {cause}",
            retry_after=math.ceil(max(next_fetch - now, 1.0)),
        )

    def _serving(self, now: float) -> bool:
        """Whether cached keys still serve tokens (fresh, or stale within ``stale_if_error``)."""
        policy = self.policy
        return bool(self._keys) and now - self._fetched_at < policy.ttl + policy.stale_if_error

    def _still_fetching(self) -> KeysUnavailableError:
        return KeysUnavailableError(
            "the JWKS fetch that may bring this key is still under way (a request waits for it"
            f" at most KeyPolicy.max_wait, {self.policy.max_wait:g} s): {self.urls[0]}",
            retry_after=1,
        )

    def _key_or_unknown(self, kid: str) -> RSAPublicKey:
        key = self._keys.get(kid)
        if key is None:
            raise UnknownKeyError(f"no key with kid {shorten(kid)} in the issuer's JWKS")
        return key

    # -- fetching -----------------------------------------------------------------------------

    def _fetch_flow(self, quiet: bool = False) -> Generator[str, bytes | BaseException, bool]:
        """The fetch protocol: yield each URL, receive its body or error, record the outcome.

        Returns whether a usable JWKS was had. ``quiet`` logs a failure at debug level only,
        for a caller that judges it itself (a hydration: one issuer form of a pool may have no
        JWKS while the other has).
        """
        problems: list[str] = []
        telemetry = _telemetry.current()
        for url in self.urls:
            result = yield url
            if isinstance(result, BaseException):
                problems.append(f"{url}: {_describe(result)}")
                telemetry.jwks_fetch(url, _result_of(result))
                continue
            try:
                keys = parse_jwks(result, self.policy.min_key_bits)
            except Exception as exc:  # an unusable document is an outage, never a crash
                problems.append(f"{url}: {_describe(exc)}")
                telemetry.jwks_fetch(url, "invalid")
                continue
            telemetry.jwks_fetch(url, "ok")
            self._record_success(keys)
            return True
        self._record_failure(problems, quiet)
        return False

    def _record_success(self, keys: dict[str, RSAPublicKey]) -> None:
        now = self._clock()
        with self._lock:
            added = keys.keys() - self._keys.keys()
            removed = self._keys.keys() - keys.keys()
            had_keys = bool(self._keys)
            self._keys = keys
            self._fetched_at = now
            self._retry_at = -math.inf
            self._failures = 0
            self._last_problem = ""
        if had_keys and (added or removed):
            log.info(
                "JWKS rotated (%d key(s) added, %d removed)",
                len(added),
                len(removed),
            )

    def _record_failure(self, problems: list[str], quiet: bool = False) -> None:
        now = self._clock()
        with self._lock:
            self._failures += 1
            delay = min(
                self.policy.backoff_initial * 2 ** (self._failures - 1), self.policy.backoff_max
            )
            self._retry_at = now + delay
            self._last_problem = "; ".join(problems)
            stale = bool(self._keys) and now - self._fetched_at < (
                self.policy.ttl + self.policy.stale_if_error
            )
        log.log(
            logging.DEBUG if quiet else logging.WARNING,
            "JWKS fetch failed (%s); %s; next attempt in %.0fs",
            "; ".join(problems),
            "serving cached keys" if stale else "no keys available",
            delay,
        )

    def _client_options(self, transport: object) -> dict[str, Any]:
        # A client is made per fetch (a few per hour; it is cheap) but its TLS context, whose CA
        # bundle costs tens of milliseconds to load, once per process.
        options = client_options(httpx.Timeout(self.policy.timeout), transport)
        options["headers"] = {"Accept": "application/json"}
        return options

    def _start_thread(self, flight: _Flight, *, quiet: bool = False) -> None:
        # The context copy keeps the fetch's span a child of the caller's.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run,
            args=(self._drive_sync, flight, quiet),
            name="cognito-guard-jwks",
            daemon=True,
        ).start()

    def _start_task(self, flight: _Flight, *, quiet: bool = False) -> None:
        self._flights.start_task(flight, self._drive_async(flight, quiet=quiet))

    def _finish_on_thread(self, flight: _Flight, task: asyncio.Task[None]) -> None:
        """Done callback of a background refresh task: a refresh its loop ended goes on a thread.

        A loop per request (Flask's async views, asgiref's ``async_to_sync``) cancels its tasks
        when the request ends, which for a request served from the cached keys is at once,
        often before the task's first step. Left cancelled, the refresh would be tried again by
        every such request and finished by none.
        """
        if not flight.done():
            self._start_thread(flight)

    def _drive_sync(self, flight: _Flight, quiet: bool = False) -> None:
        try:
            self._fetch_sync(quiet)
        finally:
            self._land(flight)

    def _fetch_sync(self, quiet: bool = False) -> None:
        flow = self._fetch_flow(quiet)
        first = next(flow)
        url: str | Finished[bool] = first
        options = self._client_options(self._transport)
        with _telemetry.span(_telemetry.SPAN_JWKS_FETCH, {"url.full": first}) as span:
            with httpx.Client(transport=self._transport, **options) as client:
                while not isinstance(url, Finished):
                    url = resume(flow, self._get(client, url))
            _telemetry.fetched(span, url.value, self._last_problem)

    async def _fetch_async(self, quiet: bool = False) -> None:
        flow = self._fetch_flow(quiet)
        first = next(flow)
        url: str | Finished[bool] = first
        options = self._client_options(self._async_transport)
        with _telemetry.span(_telemetry.SPAN_JWKS_FETCH, {"url.full": first}) as span:
            async with httpx.AsyncClient(transport=self._async_transport, **options) as client:
                while not isinstance(url, Finished):
                    url = resume(flow, await self._aget(client, url))
            _telemetry.fetched(span, url.value, self._last_problem)

    # One attempt: the body, or the failure, which the flow records; an attempt never raises.

    def _get(self, client: httpx.Client, url: str) -> bytes | Exception:
        try:
            with client.stream("GET", url) as response:
                _check_response(response, self.policy.max_bytes)
                return read_capped(response.iter_bytes(), self.policy.max_bytes)
        except Exception as exc:
            return exc

    async def _aget(self, client: httpx.AsyncClient, url: str) -> bytes | Exception:
        try:
            async with client.stream("GET", url) as response:
                _check_response(response, self.policy.max_bytes)
                return await aread_capped(response.aiter_bytes(), self.policy.max_bytes)
        except Exception as exc:
            return exc

    async def _drive_async(
        self, flight: _Flight, *, background: bool = False, quiet: bool = False
    ) -> None:
        import asyncio

        handed_over = False
        try:
            await self._fetch_async(quiet)
        except asyncio.CancelledError:
            if background:  # _finish_on_thread performs it, and lands the flight
                handed_over = True
                raise
            # The loop closed under the fetch (a loop per request, as Flask's async views run,
            # ends with its request, which max_wait may end first): a fetch that did not finish
            # is a failed one, so that the next is spaced by the back-off, not retried at once.
            self._record_failure([f"{self.urls[0]}: the fetch was cancelled with its event loop"])
            raise
        finally:  # also when the loop is closed under the task: waiters must not hang
            if not handed_over:
                self._land(flight)


def _result_of(exc: BaseException) -> str:
    """The ``result`` attribute of a failed JWKS request (a bounded set, for metrics)."""
    if isinstance(exc, BodyTooLarge):
        return "too_large"
    if isinstance(exc, JWKSError):  # _check_response: a status other than 200
        return "http_error"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "unreachable"
    return "error"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (JWKSError, BodyTooLarge)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
