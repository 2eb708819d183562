"""``httpx.Auth`` classes that keep a Cognito token fresh: :class:`ClientCredentialsAuth`
(machine to machine) and :class:`RefreshTokenAuth` (on behalf of a signed-in user).

Both are importable from :mod:`cognito_guard.client` as well, with the
:class:`~cognito_guard.client.CognitoTokenClient` whose operations they use.

Example::

    from cognito_guard.client import CognitoTokenClient, RefreshTokenAuth

    client = CognitoTokenClient(client_id="4a1b...", domain="https://auth.example.com")
    auth = RefreshTokenAuth(client, session_tokens, on_refresh=save_to_session)
    with httpx.Client(auth=auth) as http:       # refreshed near expiry, and once after a 401
        http.get("https://api.example.com/me")
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

import httpx

from ._oauth.flows import check_client_metadata, check_scopes, require_text
from ._oauth.tokens import TokenSet
from ._oauth.wire import Endpoint
from ._sansio import Finished, resume
from ._singleflight import Flight, SingleFlight
from ._values import seconds
from .errors import ConfigurationError, OAuthError, TokenEndpointUnavailable
from .m2m_cache import CacheRequest, MemoryTokenCache, TokenCache, cache_key
from .m2m_cache import effective_skew as _effective_skew

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ClientCredentialsAuth", "OnRefresh", "RefreshTokenAuth"]


class TokenClient(Protocol):
    """What the auth classes use of their ``client``, a
    :class:`~cognito_guard.client.CognitoTokenClient`: a protocol, because ``client`` imports
    this module (it re-exports the auth classes), so this module cannot import ``client``."""

    endpoint: Endpoint
    clock: Callable[[], float]
    _timeout: httpx.Timeout

    @property
    def client_id(self) -> str: ...

    def _slot(self, key: tuple[object, ...]) -> _TokenSlot: ...

    def client_credentials(self, scopes: Iterable[str] = ()) -> TokenSet: ...

    async def aclient_credentials(self, scopes: Iterable[str] = ()) -> TokenSet: ...

    def refresh(self, refresh_token: str, **options: Unpack[_RefreshOptions]) -> TokenSet: ...

    async def arefresh(
        self, refresh_token: str, **options: Unpack[_RefreshOptions]
    ) -> TokenSet: ...


class _RefreshOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`~cognito_guard.client.CognitoTokenClient.refresh` that
    :class:`RefreshTokenAuth` passes."""

    device_key: str | None
    client_metadata: Mapping[str, str] | None
    username: str | None


# -- keeping a token fresh: one cached TokenSet and the single flight that replaces it -----------


_Hit = tuple[TokenSet, int]
_Flight = Flight[_Hit]
_NO_FLIGHT: _Flight = Flight()  # returned with a hit; never waited on


def _interrupted(why: str) -> TokenEndpointUnavailable:
    return TokenEndpointUnavailable(f"the token request was interrupted: {why}")


class _TokenSlot:
    """One cached :class:`TokenSet` and its replacement, shared by concurrent requests.

    ``generation`` counts replacements: a request that got a 401 with generation ``g`` asks for
    a token newer than ``g``, so a burst of 401s leads to one fetch, not one per request.
    One fetch at a time is shared by every caller (a single flight): threads and coroutines of
    any event loop wait for the same flight, and a fetch that fails hands its error to all of
    them. The caller that finds the token due fetches it on its own thread or, from a
    coroutine, in a task of its own; every caller waits for the token it needs. No thread lock
    is held across I/O.
    """

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._lock = threading.Lock()  # guards the fields below; never held across I/O
        self._tokens = tokens
        self._generation = 1 if tokens is not None else 0
        self._flights: SingleFlight[_Hit] = SingleFlight()
        self.final_error: OAuthError | None = None  # set when retrying can never succeed

    @property
    def tokens(self) -> TokenSet | None:
        with self._lock:
            return self._tokens

    def _join(self, skew: float, stale: int | None) -> tuple[_Hit | None, _Flight, bool]:
        """A usable (token, generation); or the flight to wait for, and whether to lead it."""
        with self._lock:
            if self.final_error is not None:
                raise self.final_error
            tokens, generation = self._tokens, self._generation
            if (
                tokens is not None
                and generation != stale
                and not tokens.is_expired(_effective_skew(tokens, skew))
            ):
                return (tokens, generation), _NO_FLIGHT, False
            stranded = self._flights.stranded()
            if stranded is not None:
                # Its waiters get an error; this caller leads a new flight. (Performing the
                # stranded one again would race with its task, which lands it when collected.)
                self._flights.clear(stranded)
                stranded.fail(_interrupted("its event loop was closed"))
            flight = self._flights.current
            if flight is not None:
                return None, flight, False
            return None, self._flights.take_off(), True

    def _land(
        self,
        flight: _Flight,
        tokens: TokenSet | None,
        error: BaseException | None,
    ) -> tuple[TokenSet, int] | None:
        with self._lock:
            stored: tuple[TokenSet, int] | None = None
            if tokens is not None:
                self._tokens = tokens
                self._generation += 1
                stored = (tokens, self._generation)
            if isinstance(error, OAuthError) and error.error == "invalid_grant":
                self.final_error = error
            self._flights.clear(flight)
        if stored is not None:
            flight.land(stored)
        elif isinstance(error, Exception):
            flight.fail(error)
        else:  # cancelled, or its event loop closed under it: the waiters must not hang
            flight.fail(_interrupted("it was cancelled"))
        return stored

    def get(
        self,
        fetch: Callable[[TokenSet | None], TokenSet],
        skew: float,
        stale: int | None = None,
        on_new: Callable[[TokenSet], object] | None = None,
    ) -> tuple[TokenSet, int]:
        """A usable token (and its generation), fetching it (blocking) when needed.

        ``on_new`` sees every fetched token set after it is stored (and handed to the waiters):
        if it raises, a rotated refresh token is still not lost.
        """
        hit, flight, lead = self._join(skew, stale)
        if hit is not None:
            return hit
        if not lead:
            return flight.result()
        try:
            tokens = fetch(self.tokens)
        except BaseException as exc:
            self._land(flight, None, exc)
            raise
        stored = self._land(flight, tokens, None)
        assert stored is not None  # noqa: S101 - tokens were given
        result = on_new(tokens) if on_new is not None else None
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited on purpose; do not warn about it
            raise ConfigurationError("an async on_refresh needs an httpx.AsyncClient")
        return stored

    async def aget(
        self,
        afetch: Callable[[TokenSet | None], Awaitable[TokenSet]],
        skew: float,
        stale: int | None = None,
        on_new: Callable[[TokenSet], object] | None = None,
    ) -> tuple[TokenSet, int]:
        """Like :meth:`get` for coroutines, without blocking the event loop."""
        hit, flight, lead = self._join(skew, stale)
        if hit is not None:
            return hit
        if not lead:
            return await flight.aresult()
        # A task of its own: a cancelled leader must not cancel the fetch others wait for, nor
        # the on_refresh that persists its result. The leader sees on_refresh's error; waiters
        # get the tokens as soon as they are stored.
        task = self._flights.start_task(flight, self._alead(flight, afetch, on_new))
        await asyncio.shield(task)
        return flight.result()

    async def _alead(
        self,
        flight: _Flight,
        afetch: Callable[[TokenSet | None], Awaitable[TokenSet]],
        on_new: Callable[[TokenSet], object] | None,
    ) -> None:
        try:
            tokens = await afetch(self.tokens)
        except BaseException as exc:  # also when the loop is closed under the task
            self._land(flight, None, exc)
            raise
        self._land(flight, tokens, None)
        if on_new is not None:
            result = on_new(tokens)
            if inspect.isawaitable(result):
                await result


@dataclass(frozen=True)
class _NeedToken:
    stale: int | None  # the generation that was rejected, or None for "any usable token"


class _BearerAuth(httpx.Auth):
    """An ``httpx.Auth`` sending a cached bearer token; one fresh token and one retry on 401."""

    # The request may be sent twice (after a 401), so its body must be replayable.
    requires_request_body = True

    def __init__(self, slot: _TokenSlot, refresh_skew: float) -> None:
        self._slot = slot
        self.refresh_skew = seconds(refresh_skew, "refresh_skew", zero=True)

    def _fetch(self, current: TokenSet | None) -> TokenSet:
        raise NotImplementedError

    async def _afetch(self, current: TokenSet | None) -> TokenSet:
        raise NotImplementedError

    def _on_new(self, tokens: TokenSet) -> object:
        return None

    def _protocol(self, request: httpx.Request) -> Generator[httpx.Request | _NeedToken, Any, None]:
        """The whole policy, once: send with a token; on 401 get a newer one and retry once."""
        tokens, generation = yield _NeedToken(None)
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        response: httpx.Response = yield request
        if response.status_code != 401:
            return
        tokens, _ = yield _NeedToken(generation)
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"
        yield request

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        flow = self._protocol(request)
        step = resume(flow, None)
        while not isinstance(step, Finished):
            if isinstance(step, _NeedToken):
                hit = self._slot.get(self._fetch, self.refresh_skew, step.stale, self._on_new)
                step = resume(flow, hit)
            else:
                step = resume(flow, (yield step))

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        flow = self._protocol(request)
        step = resume(flow, None)
        while not isinstance(step, Finished):
            if isinstance(step, _NeedToken):
                get = self._slot.aget(self._afetch, self.refresh_skew, step.stale, self._on_new)
                step = resume(flow, await get)
            else:
                step = resume(flow, (yield step))


class ClientCredentialsAuth(_BearerAuth):
    """``httpx.Auth`` for a service calling an API with a client-credentials (M2M) token.

    The token is cached per (client, scopes) — every ``ClientCredentialsAuth`` of the same
    client and scopes shares it — and replaced ``refresh_skew`` seconds before it expires.
    Concurrent requests, threads or coroutines, share one token request. A 401 from the API
    fetches a new token once and retries the request once.

    ``cache`` says who else shares the token: by default (:class:`MemoryTokenCache`) this
    process only; with a :class:`RedisTokenCache`, every process using that Redis (one token
    request for the fleet). Each process still keeps its copy until it is due, so a request
    with a warm token never waits for Redis.

    Example::

        auth = ClientCredentialsAuth(client, scopes=["orders/read"])
        with httpx.Client(auth=auth) as http:          # or httpx.AsyncClient(auth=auth)
            http.get("https://api.example.com/orders")

        shared = RedisTokenCache(redis_url, encryption_key=os.environ["CG_TOKEN_KEY"])
        auth = ClientCredentialsAuth(client, scopes=["orders/read"], cache=shared)
    """

    def __init__(
        self,
        client: TokenClient,
        scopes: Iterable[str] = (),
        refresh_skew: float = 60,
        *,
        cache: TokenCache | None = None,
    ) -> None:
        if cache is not None and not isinstance(cache, TokenCache):
            raise ConfigurationError("cache must be a MemoryTokenCache or a RedisTokenCache")
        self.client = client
        self.scopes = check_scopes(scopes)
        self.cache: TokenCache = cache if cache is not None else MemoryTokenCache()
        sorted_scopes = tuple(sorted(self.scopes))
        slot_key: tuple[object, ...] = sorted_scopes  # every in-process cache: one slot
        if not isinstance(self.cache, MemoryTokenCache):
            # A shared cache gets slots of its own (this process's copy of its token).
            self.cache._check_client_timeout(client._timeout.read or 0.0)
            slot_key = (self.cache, *sorted_scopes)
        endpoint = client.endpoint
        token_url = f"{endpoint.domain or endpoint.api_url}/oauth2/token"
        self._cache_key = cache_key(token_url, client.client_id, sorted_scopes)
        super().__init__(client._slot(slot_key), refresh_skew)

    @property
    def tokens(self) -> TokenSet | None:
        """The cached token set, if one was fetched."""
        return self._slot.tokens

    def _fetch(self, current: TokenSet | None) -> TokenSet:
        fetch = functools.partial(self.client.client_credentials, self.scopes)
        return self.cache.get(self._cache_request(current), fetch)

    async def _afetch(self, current: TokenSet | None) -> TokenSet:
        afetch = functools.partial(self.client.aclient_credentials, self.scopes)
        return await self.cache.aget(self._cache_request(current), afetch)

    def _cache_request(self, current: TokenSet | None) -> CacheRequest:
        replacing = current.access_token if current is not None else None
        return CacheRequest(self._cache_key, self.refresh_skew, self.client.clock, replacing)


OnRefresh = Callable[[TokenSet], object]


class RefreshTokenAuth(_BearerAuth):
    """``httpx.Auth`` for a backend calling an API on behalf of a signed-in user.

    Sends the current access token; refreshes it with the refresh token when it is within
    ``refresh_skew`` seconds of expiry, or once after a 401. Every new :class:`TokenSet`
    (including a rotated refresh token) is handed to ``on_refresh`` so you can persist it; in
    async use ``on_refresh`` may be a coroutine function. With rotation on, the refresh token
    that was used stops working: persisting each new one is what keeps the session alive.
    Concurrent requests share one refresh. A revoked, expired or rotated-out refresh token
    raises :class:`OAuthError` ``invalid_grant`` — then, and on every later request, without
    asking Cognito again. ``device_key`` and ``client_metadata`` go with every refresh through
    the user-pool API (see :meth:`CognitoTokenClient.refresh`).

    Example::

        auth = RefreshTokenAuth(client, session_tokens, on_refresh=save_to_session)
        with httpx.Client(auth=auth) as http:
            http.get("https://api.example.com/me")
    """

    def __init__(
        self,
        client: TokenClient,
        tokens: TokenSet,
        on_refresh: OnRefresh | None = None,
        refresh_skew: float = 60,
        *,
        device_key: str | None = None,
        client_metadata: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(tokens, TokenSet) or not tokens.refresh_token:
            raise ConfigurationError("RefreshTokenAuth needs a TokenSet with a refresh_token")
        if device_key is not None:
            require_text(device_key, "device_key")
        if client.endpoint.domain is not None and (
            device_key is not None or client_metadata is not None
        ):
            raise ConfigurationError(
                "device_key and client_metadata apply only to the user-pool API "
                "(GetTokensFromRefreshToken), not to a client with a domain"
            )
        self.client = client
        self.on_refresh = on_refresh
        self.device_key = device_key
        self.client_metadata = (
            None if client_metadata is None else check_client_metadata(client_metadata)
        )
        super().__init__(_TokenSlot(tokens), refresh_skew)

    @property
    def tokens(self) -> TokenSet:
        """The current token set (the latest refresh, or the one passed in)."""
        tokens = self._slot.tokens
        assert tokens is not None  # noqa: S101 - the slot starts with a token set
        return tokens

    def _fetch(self, current: TokenSet | None) -> TokenSet:
        refresh_token, options = self._refresh_with(current)
        return self.client.refresh(refresh_token, **options)

    async def _afetch(self, current: TokenSet | None) -> TokenSet:
        refresh_token, options = self._refresh_with(current)
        return await self.client.arefresh(refresh_token, **options)

    def _refresh_with(self, current: TokenSet | None) -> tuple[str, _RefreshOptions]:
        assert current is not None and current.refresh_token  # noqa: S101 - see __init__
        options: _RefreshOptions = {
            "device_key": self.device_key,
            "client_metadata": self.client_metadata,
            "username": current.username,
        }
        return current.refresh_token, options

    def _on_new(self, tokens: TokenSet) -> object:
        return self.on_refresh(tokens) if self.on_refresh is not None else None
