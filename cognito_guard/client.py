"""Getting and refreshing Cognito tokens: refresh, client credentials, code exchange, revoke,
userInfo (sync and async), and ``httpx.Auth`` classes that keep a token fresh for you.

The protocol lives in :mod:`cognito_guard._oauth` as generators that do no I/O; the methods here
only drive them with ``httpx.Client`` or ``httpx.AsyncClient``.

Example::

    from cognito_guard.client import ClientCredentialsAuth, CognitoTokenClient, OAuthError

    client = CognitoTokenClient(client_id="4a1b...", client_secret=os.environ["SECRET"],
                                domain="https://auth.example.com")
    tokens = client.client_credentials(scopes=["orders/read"])
    http = httpx.Client(auth=ClientCredentialsAuth(client, scopes=["orders/read"]))
    http.get("https://api.example.com/orders")      # one token request, reused until near expiry
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from . import _telemetry
from ._http import BodyTooLarge, aread_capped, read_capped
from ._oauth import (
    MAX_REPLY_BYTES,
    Endpoint,
    Flow,
    HttpCall,
    HttpReply,
    OAuthError,
    TokenEndpointUnavailable,
    TokenSet,
    UnsupportedOperationError,
    VerifyIdToken,
    client_credentials_flow,
    exchange_code_flow,
    global_sign_out_flow,
    refresh_flow,
    revoke_flow,
    unverified_claims,
    userinfo_flow,
)
from .claims import CognitoClaims
from .errors import CognitoGuardError, ConfigurationError
from .issuers import check_base_url, user_pool_api_url
from .pkce import AuthorizationRequest, authorization_request
from .revocation import RevocationWrites
from .token_cache import MemoryTokenCache, RedisTokenCache, TokenCache, cache_key
from .token_cache import effective_skew as _effective_skew
from .verifier import CognitoVerifier

__all__ = [
    "ClientCredentialsAuth",
    "CognitoTokenClient",
    "MemoryTokenCache",
    "OAuthError",
    "RedisTokenCache",
    "RefreshTokenAuth",
    "TokenCache",
    "TokenEndpointUnavailable",
    "TokenSet",
    "UnsupportedOperationError",
]

log = logging.getLogger("cognito_guard")

T = TypeVar("T")

# Defined next to the protocol that raises and builds them; public here.
for _public in (OAuthError, TokenEndpointUnavailable, TokenSet, UnsupportedOperationError):
    _public.__module__ = __name__


def _transport_failure(call: HttpCall, exc: Exception) -> TokenEndpointUnavailable:
    # Only the exception's type: its text could in principle carry request details.
    if isinstance(exc, BodyTooLarge):
        why = f"the answer exceeds {MAX_REPLY_BYTES} bytes"
    elif isinstance(exc, httpx.TimeoutException):
        why = f"timed out ({type(exc).__name__})"
    else:
        why = f"could not be reached ({type(exc).__name__})"
    return TokenEndpointUnavailable(f"{call.operation}: {call.url} {why}")


class CognitoTokenClient:
    """A client of one Cognito app client's token endpoints.

    Talks to the hosted (or custom) ``domain``'s ``/oauth2/token``, ``/oauth2/revoke`` and
    ``/oauth2/userInfo``, or, without a domain, to the user-pool API of ``region`` (or
    ``endpoint_url``, e.g. a local emulator) with ``GetTokensFromRefreshToken``, ``RevokeToken``
    and ``GetUser``. The client-credentials grant and code exchange exist only at a domain.
    Where the user-pool API does not implement ``GetTokensFromRefreshToken`` (local emulators
    such as moto), refreshes fall back to ``InitiateAuth REFRESH_TOKEN_AUTH``, unless the
    client is made with ``refresh_token_rotation=True``.

    Example::

        client = CognitoTokenClient(client_id="4a1b...", client_secret=None,
                                    domain="https://auth.example.com")
        tokens = client.refresh(refresh_token)              # or: await client.arefresh(...)
        client.revoke(tokens.refresh_token)

    Args:
        client_id: the app client id.
        client_secret: the app client secret, for confidential clients. Never logged or shown.
        domain: ``https://{prefix}.auth.{region}.amazoncognito.com`` or a custom domain.
        region: the user pool's Region, to use the user-pool API instead of a domain.
        endpoint_url: the user-pool API's URL (instead of ``region``), e.g. an emulator.
        refresh_token_rotation: True when the app client rotates refresh tokens (its
            ``RefreshTokenRotation`` is ``ENABLED``). Such a client is refused
            ``InitiateAuth REFRESH_TOKEN_AUTH``, so at a user-pool API without
            ``GetTokensFromRefreshToken`` a refresh raises :class:`UnsupportedOperationError`
            instead of falling back to it. No effect on refreshes at a domain.
        id_token_verifier: when given, every ID token that comes back is verified with it
            (use ``token_use="id"``) and its claims are put in ``TokenSet.id_claims``.
        timeout: seconds for connecting and for reading one answer.
        clock: returns epoch seconds; ``TokenSet.expires_at`` and ``is_expired`` use it.
        transport, async_transport: httpx transports (proxies, fault injection in tests).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        domain: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        refresh_token_rotation: bool = False,
        id_token_verifier: CognitoVerifier | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("client_id is required")
        if client_secret is not None and (not isinstance(client_secret, str) or not client_secret):
            raise ConfigurationError("client_secret must be a non-empty string or None")
        if domain is not None and (region is not None or endpoint_url is not None):
            raise ConfigurationError("pass domain, or region/endpoint_url, not both")
        api_url: str | None = None
        if domain is not None:
            domain = check_base_url(domain, "domain", keep_path=False)
        elif endpoint_url is not None:
            api_url = check_base_url(endpoint_url, "endpoint_url", keep_path=True)
        elif region is not None:
            api_url = user_pool_api_url(region)
        else:
            raise ConfigurationError("pass domain=... (hosted/custom domain) or region=...")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError("timeout must be a positive number of seconds")
        if not isinstance(refresh_token_rotation, bool):
            raise ConfigurationError("refresh_token_rotation must be True or False")
        self.refresh_token_rotation = refresh_token_rotation
        # Set once the user-pool API answered that it lacks GetTokensFromRefreshToken; an Event
        # is a flag that threads and coroutines may read and set without a lock of our own.
        self._lacks_get_tokens = threading.Event()
        self.endpoint = Endpoint(client_id, client_secret, domain, api_url)
        self.id_token_verifier = id_token_verifier
        self.clock = clock
        self._timeout = httpx.Timeout(float(timeout))
        self._transport = transport
        self._async_transport = async_transport
        self._slots_lock = threading.Lock()
        self._slots: dict[tuple[object, ...], _TokenSlot] = {}

    @property
    def client_id(self) -> str:
        """The app client id."""
        return self.endpoint.client_id

    def __repr__(self) -> str:
        where = self.endpoint.domain or self.endpoint.api_url
        secret = "yes" if self.endpoint.client_secret else "no"
        return f"CognitoTokenClient(client_id={self.client_id!r}, at={where!r}, secret={secret})"

    # -- the operations, sync ------------------------------------------------------------------

    def client_credentials(self, scopes: Iterable[str] = ()) -> TokenSet:
        """A machine-to-machine access token (``grant_type=client_credentials``).

        Cognito bills every such request: reuse the token (see :class:`ClientCredentialsAuth`).

        Example: ``tokens = client.client_credentials(scopes=["orders/read"])``
        """
        return self._run(client_credentials_flow(self.endpoint, _scopes(scopes), self.clock))

    def refresh(
        self,
        refresh_token: str,
        *,
        device_key: str | None = None,
        client_metadata: Mapping[str, str] | None = None,
        username: str | None = None,
    ) -> TokenSet:
        """New access and ID tokens for a refresh token (and a new refresh token if it rotates).

        At a domain this is the ``refresh_token`` grant of ``/oauth2/token``; through the
        user-pool API it is ``GetTokensFromRefreshToken``. With rotation on, the returned
        ``refresh_token`` is the new one and the one passed in stops working (after the app
        client's retry grace period): persist the new one every time. Without rotation it is
        the one passed in.

        A request that fails on the way (timeout, connection reset, HTTP 5xx) is sent once
        more at once with the same refresh token, which Cognito accepts again within the
        grace period. Raises :class:`OAuthError` ``invalid_grant`` when the refresh token is
        revoked, expired or rotated out (``aws_error_type`` ``RefreshTokenReuseException``).

        A user-pool API that does not implement ``GetTokensFromRefreshToken`` (local
        emulators such as moto) is asked once per client: then this and every later refresh
        uses ``InitiateAuth REFRESH_TOKEN_AUTH``, or, for a client made with
        ``refresh_token_rotation=True``, raises :class:`UnsupportedOperationError`.

        Args:
            device_key: the device key of a pool with device remembering (required there);
                user-pool API only.
            client_metadata: passed to the pool's pre-token-generation trigger; user-pool API
                only.
            username: the user's Cognito username (or ``sub``); needed only when a client
                with a secret falls back to ``InitiateAuth``, whose ``SECRET_HASH`` contains it.

        Example: ``tokens = client.refresh(tokens.refresh_token)``
        """
        return self._run(self._refresh_flow(refresh_token, device_key, client_metadata, username))

    def exchange_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        code_verifier: str | None = None,
        nonce: str | None = None,
    ) -> TokenSet:
        """Redeem an authorization code from ``/oauth2/authorize`` (PKCE: pass the verifier).

        With an ``id_token_verifier`` and ``nonce``, the ID token's ``nonce`` must match.

        Example::

            tokens = client.exchange_code(code, redirect_uri="https://app/callback",
                                          code_verifier=session["verifier"])
        """
        return self._run(self._exchange_flow(code, redirect_uri, code_verifier, nonce))

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and the access and ID tokens it produced.

        Example: ``client.revoke(tokens.refresh_token)``
        """
        _require_text(refresh_token, "refresh_token")
        self._run(revoke_flow(self.endpoint, refresh_token))

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The signed-in user's attributes (``/oauth2/userInfo``, or ``GetUser`` via the API).

        Example: ``client.userinfo(tokens.access_token)["email"]``
        """
        _require_text(access_token, "access_token")
        return self._run(userinfo_flow(self.endpoint, access_token))

    # -- the operations, async -----------------------------------------------------------------

    async def aclient_credentials(self, scopes: Iterable[str] = ()) -> TokenSet:
        """Async :meth:`client_credentials`."""
        return await self._arun(client_credentials_flow(self.endpoint, _scopes(scopes), self.clock))

    async def arefresh(
        self,
        refresh_token: str,
        *,
        device_key: str | None = None,
        client_metadata: Mapping[str, str] | None = None,
        username: str | None = None,
    ) -> TokenSet:
        """Async :meth:`refresh`."""
        return await self._arun(
            self._refresh_flow(refresh_token, device_key, client_metadata, username)
        )

    async def aexchange_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        code_verifier: str | None = None,
        nonce: str | None = None,
    ) -> TokenSet:
        """Async :meth:`exchange_code`."""
        return await self._arun(self._exchange_flow(code, redirect_uri, code_verifier, nonce))

    async def arevoke(self, refresh_token: str) -> None:
        """Async :meth:`revoke`."""
        _require_text(refresh_token, "refresh_token")
        await self._arun(revoke_flow(self.endpoint, refresh_token))

    async def auserinfo(self, access_token: str) -> dict[str, Any]:
        """Async :meth:`userinfo`."""
        _require_text(access_token, "access_token")
        return await self._arun(userinfo_flow(self.endpoint, access_token))

    # -- sign-out: Cognito, then the revocation list ---------------------------------------------

    def sign_out(self, tokens: TokenSet, *, revocations: RevocationWrites | None = None) -> None:
        """Sign one session out: revoke its refresh token at Cognito, then record its session.

        Cognito's revocation stops refreshes, but the access and ID tokens already issued keep
        verifying until they expire; with ``revocations`` every process sharing that list
        refuses them too (by their ``origin_jti``, or their ``jti`` when the app client has
        token revocation off). The session is recorded even when Cognito refuses or cannot be
        reached; that error is raised afterwards. Pass tokens from your own session store: the
        ids are read from them without verification.

        Example: ``client.sign_out(session_tokens, revocations=revocations)``
        """
        failure: CognitoGuardError | None = None
        if tokens.refresh_token:
            try:
                self.revoke(tokens.refresh_token)
            except (OAuthError, TokenEndpointUnavailable) as exc:
                failure = exc
        if revocations is not None:
            for kind, ident in _session_ids(tokens):
                if kind == "origin_jti":
                    revocations.revoke_session(ident)
                else:
                    revocations.revoke_token(ident)
        if failure is not None:
            raise failure

    async def asign_out(
        self, tokens: TokenSet, *, revocations: RevocationWrites | None = None
    ) -> None:
        """Async :meth:`sign_out`."""
        failure: CognitoGuardError | None = None
        if tokens.refresh_token:
            try:
                await self.arevoke(tokens.refresh_token)
            except (OAuthError, TokenEndpointUnavailable) as exc:
                failure = exc
        if revocations is not None:
            for kind, ident in _session_ids(tokens):
                if kind == "origin_jti":
                    await revocations.arevoke_session(ident)
                else:
                    await revocations.arevoke_token(ident)
        if failure is not None:
            raise failure

    def global_sign_out(
        self, access_token: str, *, revocations: RevocationWrites | None = None
    ) -> None:
        """Sign the access token's user out everywhere: ``GlobalSignOut``, then the list.

        Cognito revokes all of the user's refresh tokens; with ``revocations`` every token of
        that ``sub`` issued until now is refused as well. Only after Cognito accepted the access
        token is the sign-out recorded (an unverified ``sub`` must not sign anyone out). The
        token needs the ``aws.cognito.signin.user.admin`` scope. ``GlobalSignOut`` is a
        user-pool API call: a client made with a custom domain needs ``region=...`` unless the
        token names a Cognito issuer.

        Example: ``client.global_sign_out(tokens.access_token, revocations=revocations)``
        """
        _require_text(access_token, "access_token")
        self._run(global_sign_out_flow(self.endpoint, access_token))
        at = self.clock()  # after Cognito's answer: every token issued until then is covered
        if revocations is not None:
            revocations.sign_out_user(_sub_of(access_token), at=at)

    async def aglobal_sign_out(
        self, access_token: str, *, revocations: RevocationWrites | None = None
    ) -> None:
        """Async :meth:`global_sign_out`."""
        _require_text(access_token, "access_token")
        await self._arun(global_sign_out_flow(self.endpoint, access_token))
        at = self.clock()  # after Cognito's answer: every token issued until then is covered
        if revocations is not None:
            await revocations.asign_out_user(_sub_of(access_token), at=at)

    # -- sign-in helper ------------------------------------------------------------------------

    def authorization_request(
        self, redirect_uri: str, scopes: Iterable[str] = ("openid", "email")
    ) -> AuthorizationRequest:
        """A hosted sign-in redirect with fresh state, nonce and PKCE pair (needs a domain).

        Example::

            auth = client.authorization_request("https://app/callback")
            session.update(state=auth.state, nonce=auth.nonce, verifier=auth.code_verifier)
            return redirect(auth.url)
        """
        if self.endpoint.domain is None:
            raise ConfigurationError("the hosted sign-in pages need domain=...")
        return authorization_request(
            self.endpoint.domain, client_id=self.client_id, redirect_uri=redirect_uri, scopes=scopes
        )

    # -- flows shared by the sync and async methods --------------------------------------------

    def _refresh_flow(
        self,
        refresh_token: str,
        device_key: str | None,
        client_metadata: Mapping[str, str] | None,
        username: str | None,
    ) -> Flow[TokenSet]:
        _require_text(refresh_token, "refresh_token")
        if device_key is not None:
            _require_text(device_key, "device_key")
        if client_metadata is not None:
            client_metadata = _client_metadata(client_metadata)
        verify = self.id_token_verifier is not None
        return refresh_flow(
            self.endpoint,
            refresh_token,
            self.clock,
            verify,
            device_key=device_key,
            client_metadata=client_metadata,
            username=username if isinstance(username, str) and username else None,
            rotation=self.refresh_token_rotation,
            lacks_get_tokens=self._lacks_get_tokens,
        )

    def _exchange_flow(
        self, code: str, redirect_uri: str, code_verifier: str | None, nonce: str | None
    ) -> Flow[TokenSet]:
        _require_text(code, "code")
        _require_text(redirect_uri, "redirect_uri")
        verify = self.id_token_verifier is not None
        return exchange_code_flow(
            self.endpoint, code, redirect_uri, code_verifier, nonce, self.clock, verify
        )

    def _slot(self, scopes: tuple[object, ...]) -> _TokenSlot:
        with self._slots_lock:
            slot = self._slots.get(scopes)
            if slot is None:
                slot = self._slots[scopes] = _TokenSlot()
            return slot

    # -- the two drivers -----------------------------------------------------------------------

    def _http_options(self) -> dict[str, Any]:
        return {"timeout": self._timeout, "follow_redirects": False}

    # A failed send is thrown into the flow, which may answer with the call again (refresh
    # retries once within the grace period) or let it propagate.

    def _run(self, flow: Flow[T]) -> T:
        step = next(flow)  # configuration errors surface here, before any connection
        with httpx.Client(transport=self._transport, **self._http_options()) as http:
            while True:
                failure: TokenEndpointUnavailable | None = None
                value: object = None
                if isinstance(step, VerifyIdToken):
                    value = self._verify(step)
                else:
                    try:
                        with _telemetry.request(step.operation, step.method, step.url) as span:
                            value = self._send(http, step)
                            _telemetry.answered(span, value.status)
                    except TokenEndpointUnavailable as exc:
                        failure = exc
                try:
                    step = flow.send(value) if failure is None else flow.throw(failure)
                except StopIteration as stop:
                    result: T = stop.value
                    return result

    async def _arun(self, flow: Flow[T]) -> T:
        step = next(flow)
        async with httpx.AsyncClient(
            transport=self._async_transport, **self._http_options()
        ) as http:
            while True:
                failure: TokenEndpointUnavailable | None = None
                value: object = None
                if isinstance(step, VerifyIdToken):
                    value = await self._averify(step)
                else:
                    try:
                        with _telemetry.request(step.operation, step.method, step.url) as span:
                            value = await self._asend(http, step)
                            _telemetry.answered(span, value.status)
                    except TokenEndpointUnavailable as exc:
                        failure = exc
                try:
                    step = flow.send(value) if failure is None else flow.throw(failure)
                except StopIteration as stop:
                    result: T = stop.value
                    return result

    def _send(self, http: httpx.Client, call: HttpCall) -> HttpReply:
        try:
            with http.stream(
                call.method, call.url, headers=call.headers, content=call.content or None
            ) as response:
                body = read_capped(response.iter_bytes(), MAX_REPLY_BYTES)
        except (httpx.HTTPError, BodyTooLarge) as exc:
            raise _transport_failure(call, exc) from exc
        log.debug("%s answered HTTP %d", call.operation, response.status_code)
        return HttpReply(response.status_code, response.headers, body)

    async def _asend(self, http: httpx.AsyncClient, call: HttpCall) -> HttpReply:
        try:
            async with http.stream(
                call.method, call.url, headers=call.headers, content=call.content or None
            ) as response:
                body = await aread_capped(response.aiter_bytes(), MAX_REPLY_BYTES)
        except (httpx.HTTPError, BodyTooLarge) as exc:
            raise _transport_failure(call, exc) from exc
        log.debug("%s answered HTTP %d", call.operation, response.status_code)
        return HttpReply(response.status_code, response.headers, body)

    def _verify(self, step: VerifyIdToken) -> CognitoClaims:
        assert self.id_token_verifier is not None  # noqa: S101 - flows ask only when it is set
        return self.id_token_verifier.verify(step.token)

    async def _averify(self, step: VerifyIdToken) -> CognitoClaims:
        assert self.id_token_verifier is not None  # noqa: S101 - flows ask only when it is set
        return await self.id_token_verifier.averify(step.token)


def _require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string")


def _client_metadata(metadata: object) -> dict[str, str]:
    if not isinstance(metadata, Mapping) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in metadata.items()
    ):
        raise ConfigurationError("client_metadata must map non-empty strings to strings")
    return dict(metadata)


def _session_ids(tokens: TokenSet) -> list[tuple[str, str]]:
    """What to record for a signed-out session: its ``origin_jti``(s), else each ``jti``."""
    found: dict[tuple[str, str], None] = {}
    for token in (tokens.access_token, tokens.id_token):
        claims = unverified_claims(token) if token else {}
        origin, jti = claims.get("origin_jti"), claims.get("jti")
        if isinstance(origin, str) and origin:
            found[("origin_jti", origin)] = None
        elif isinstance(jti, str) and jti:
            found[("jti", jti)] = None
    return list(found)


def _sub_of(access_token: str) -> str:
    sub = unverified_claims(access_token).get("sub")
    if not isinstance(sub, str) or not sub:
        raise ConfigurationError("the access token has no 'sub' claim to sign out")
    return sub


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = scopes.split()
    result = tuple(dict.fromkeys(scopes))
    for scope in result:
        if not isinstance(scope, str) or not scope or any(ch.isspace() for ch in scope):
            raise ConfigurationError(f"scopes must be non-empty strings without spaces: {scope!r}")
    return result


# -- keeping a token fresh: one cached TokenSet and the single flight that replaces it -----------


_Hit = tuple[TokenSet, int]
_Flight = concurrent.futures.Future[_Hit]
_NO_FLIGHT: _Flight = concurrent.futures.Future()  # returned with a hit; never waited on


def _retrieve(task: asyncio.Task[None]) -> None:
    # The leader may have been cancelled: mark the outcome seen so asyncio does not warn.
    if not task.cancelled():
        task.exception()


class _TokenSlot:
    """One cached :class:`TokenSet` and its replacement, shared by concurrent requests.

    ``generation`` counts replacements: a request that got a 401 with generation ``g`` asks for
    a token newer than ``g``, so a burst of 401s leads to one fetch, not one per request.
    One fetch at a time is shared by every caller: threads and coroutines of any event loop
    (Flask and asgiref run async views on a loop per request) wait for the same flight, and a
    fetch that fails hands its error to all of them. No thread lock is held across I/O.
    """

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._lock = threading.Lock()  # guards the fields below; never held across I/O
        self._tokens = tokens
        self._generation = 1 if tokens is not None else 0
        self._flight: _Flight | None = None
        self._task: asyncio.Task[None] | None = None  # keeps the async leader from collection
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
            if self._flight is not None:
                return None, self._flight, False
            flight: _Flight = concurrent.futures.Future()
            # A running future cannot be cancelled: a waiter's cancellation must not end it.
            flight.set_running_or_notify_cancel()
            self._flight = flight
            return None, flight, True

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
            if self._flight is flight:
                self._flight = None
        if stored is not None:
            flight.set_result(stored)
        elif isinstance(error, Exception):
            flight.set_exception(error)
        else:  # cancelled, or its event loop closed under it: the waiters must not hang
            flight.set_exception(TokenEndpointUnavailable("the token request was interrupted"))
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
            return await asyncio.wrap_future(flight)
        # A task of its own: a cancelled leader must not cancel the fetch others wait for, nor
        # the on_refresh that persists its result. The leader sees on_refresh's error; waiters
        # get the tokens as soon as they are stored.
        task = asyncio.get_running_loop().create_task(self._alead(flight, afetch, on_new))
        task.add_done_callback(_retrieve)
        self._task = task
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
        if (
            isinstance(refresh_skew, bool)
            or not isinstance(refresh_skew, (int, float))
            or refresh_skew < 0
        ):
            raise ConfigurationError("refresh_skew must be a number of seconds >= 0")
        self._slot = slot
        self.refresh_skew = float(refresh_skew)

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
        step = next(flow)
        while True:
            if isinstance(step, _NeedToken):
                value: object = self._slot.get(
                    self._fetch, self.refresh_skew, step.stale, self._on_new
                )
            else:
                value = yield step
            try:
                step = flow.send(value)
            except StopIteration:
                return

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        flow = self._protocol(request)
        step = next(flow)
        while True:
            if isinstance(step, _NeedToken):
                value: object = await self._slot.aget(
                    self._afetch, self.refresh_skew, step.stale, self._on_new
                )
            else:
                value = yield step
            try:
                step = flow.send(value)
            except StopIteration:
                return


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
        client: CognitoTokenClient,
        scopes: Iterable[str] = (),
        refresh_skew: float = 60,
        *,
        cache: TokenCache | None = None,
    ) -> None:
        if cache is not None and not isinstance(cache, TokenCache):
            raise ConfigurationError("cache must be a MemoryTokenCache or a RedisTokenCache")
        self.client = client
        self.scopes = _scopes(scopes)
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
        return self.cache.get(
            self._cache_key,
            lambda: self.client.client_credentials(self.scopes),
            skew=self.refresh_skew,
            clock=self.client.clock,
            replacing=current.access_token if current is not None else None,
        )

    async def _afetch(self, current: TokenSet | None) -> TokenSet:
        return await self.cache.aget(
            self._cache_key,
            lambda: self.client.aclient_credentials(self.scopes),
            skew=self.refresh_skew,
            clock=self.client.clock,
            replacing=current.access_token if current is not None else None,
        )


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
        client: CognitoTokenClient,
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
            _require_text(device_key, "device_key")
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
            None if client_metadata is None else _client_metadata(client_metadata)
        )
        super().__init__(_TokenSlot(tokens), refresh_skew)

    @property
    def tokens(self) -> TokenSet:
        """The current token set (the latest refresh, or the one passed in)."""
        tokens = self._slot.tokens
        assert tokens is not None  # noqa: S101 - the slot starts with a token set
        return tokens

    def _fetch(self, current: TokenSet | None) -> TokenSet:
        assert current is not None and current.refresh_token  # noqa: S101 - see __init__
        return self.client.refresh(
            current.refresh_token,
            device_key=self.device_key,
            client_metadata=self.client_metadata,
            username=current.username,
        )

    async def _afetch(self, current: TokenSet | None) -> TokenSet:
        assert current is not None and current.refresh_token  # noqa: S101 - see __init__
        return await self.client.arefresh(
            current.refresh_token,
            device_key=self.device_key,
            client_metadata=self.client_metadata,
            username=current.username,
        )

    def _on_new(self, tokens: TokenSet) -> object:
        return self.on_refresh(tokens) if self.on_refresh is not None else None
