"""Getting and refreshing Cognito tokens: refresh, client credentials, code exchange, revoke,
userInfo, sign-out (sync and async), and, from :mod:`cognito_guard.auth`, the ``httpx.Auth``
classes that keep a token fresh for you.

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

import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from . import _telemetry
from ._http import aread_capped, client_options, read_capped
from ._oauth.flows import (
    check_client_metadata,
    check_scopes,
    client_credentials_flow,
    exchange_code_flow,
    global_sign_out_flow,
    require_text,
    revoke_flow,
    userinfo_flow,
)
from ._oauth.refresh import refresh_flow
from ._oauth.tokens import TokenSet, unverified_claims
from ._oauth.wire import MAX_REPLY_BYTES, Endpoint, Flow, HttpCall, HttpReply, Step, VerifyIdToken
from ._sansio import Failed, Finished, resume
from ._values import seconds
from .auth import ClientCredentialsAuth, RefreshTokenAuth, _TokenSlot
from .errors import (
    BodyTooLarge,
    CognitoGuardError,
    ConfigurationError,
    OAuthError,
    TokenEndpointUnavailable,
    UnsupportedOperationError,
)
from .issuers import check_base_url, user_pool_api_url
from .m2m_cache import MemoryTokenCache, RedisTokenCache, TokenCache
from .pkce import AuthorizationRequest, authorization_request
from .revocation import RevocationWrites
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

# Defined in errors.py and _oauth; users import them from here, so they read as client.X.
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
        seconds(timeout, "timeout")
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

    def client_credentials(
        self, scopes: Iterable[str] = (), *, resource: str | None = None
    ) -> TokenSet:
        """A machine-to-machine access token (``grant_type=client_credentials``).

        Cognito bills every such request: reuse the token (see :class:`ClientCredentialsAuth`).
        ``resource`` is a :class:`ConfigurationError`: Cognito binds only sign-ins to resources.

        Example: ``tokens = client.client_credentials(scopes=["orders/read"])``
        """
        flow = client_credentials_flow(self.endpoint, check_scopes(scopes), self.clock, resource)
        return self._run(flow)

    def refresh(
        self,
        refresh_token: str,
        *,
        device_key: str | None = None,
        client_metadata: Mapping[str, str] | None = None,
        username: str | None = None,
        resource: str | None = None,
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
            resource: the sign-in's RFC 8707 resource, sent again (optional: refreshed tokens
                keep it; another is :class:`OAuthError` ``invalid_target``). At a domain only.

        Example: ``tokens = client.refresh(tokens.refresh_token)``
        """
        return self._run(
            self._refresh_flow(refresh_token, device_key, client_metadata, username, resource)
        )

    def exchange_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        code_verifier: str | None = None,
        nonce: str | None = None,
        resource: str | None = None,
    ) -> TokenSet:
        """Redeem an authorization code from ``/oauth2/authorize`` (PKCE: pass the verifier).

        With an ``id_token_verifier`` and ``nonce``, the ID token's ``nonce`` must match.
        ``resource`` (RFC 8707) repeats the one of ``authorize_url(..., resource=...)``, which
        binds the tokens; another is refused (:class:`OAuthError` ``invalid_target``).

        Example::

            tokens = client.exchange_code(code, redirect_uri="https://app/callback",
                                          code_verifier=session["verifier"])
        """
        return self._run(self._exchange_flow(code, redirect_uri, code_verifier, nonce, resource))

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and the access and ID tokens it produced.

        Example: ``client.revoke(tokens.refresh_token)``
        """
        require_text(refresh_token, "refresh_token")
        self._run(revoke_flow(self.endpoint, refresh_token))

    def userinfo(self, access_token: str) -> dict[str, Any]:
        """The signed-in user's attributes (``/oauth2/userInfo``, or ``GetUser`` via the API).

        Example: ``client.userinfo(tokens.access_token)["email"]``
        """
        require_text(access_token, "access_token")
        return self._run(userinfo_flow(self.endpoint, access_token))

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
        self._run(self._sign_out_flow(tokens, revocations))

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
        self._run(self._global_sign_out_flow(access_token, revocations))

    # -- the operations, async -----------------------------------------------------------------

    async def aclient_credentials(
        self, scopes: Iterable[str] = (), *, resource: str | None = None
    ) -> TokenSet:
        """Async :meth:`client_credentials`."""
        flow = client_credentials_flow(self.endpoint, check_scopes(scopes), self.clock, resource)
        return await self._arun(flow)

    async def arefresh(
        self,
        refresh_token: str,
        *,
        device_key: str | None = None,
        client_metadata: Mapping[str, str] | None = None,
        username: str | None = None,
        resource: str | None = None,
    ) -> TokenSet:
        """Async :meth:`refresh`."""
        return await self._arun(
            self._refresh_flow(refresh_token, device_key, client_metadata, username, resource)
        )

    async def aexchange_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        code_verifier: str | None = None,
        nonce: str | None = None,
        resource: str | None = None,
    ) -> TokenSet:
        """Async :meth:`exchange_code`."""
        return await self._arun(
            self._exchange_flow(code, redirect_uri, code_verifier, nonce, resource)
        )

    async def arevoke(self, refresh_token: str) -> None:
        """Async :meth:`revoke`."""
        require_text(refresh_token, "refresh_token")
        await self._arun(revoke_flow(self.endpoint, refresh_token))

    async def auserinfo(self, access_token: str) -> dict[str, Any]:
        """Async :meth:`userinfo`."""
        require_text(access_token, "access_token")
        return await self._arun(userinfo_flow(self.endpoint, access_token))

    async def asign_out(
        self, tokens: TokenSet, *, revocations: RevocationWrites | None = None
    ) -> None:
        """Async :meth:`sign_out`."""
        await self._arun(self._sign_out_flow(tokens, revocations))

    async def aglobal_sign_out(
        self, access_token: str, *, revocations: RevocationWrites | None = None
    ) -> None:
        """Async :meth:`global_sign_out`."""
        await self._arun(self._global_sign_out_flow(access_token, revocations))

    # -- sign-in helper ------------------------------------------------------------------------

    def authorization_request(
        self,
        redirect_uri: str,
        scopes: Iterable[str] = ("openid", "email"),
        *,
        resource: str | None = None,
    ) -> AuthorizationRequest:
        """A hosted sign-in redirect with fresh state, nonce and PKCE pair (needs a domain);
        ``resource`` binds the access tokens to that resource (RFC 8707).

        Example::

            auth = client.authorization_request("https://app/callback")
            session.update(state=auth.state, nonce=auth.nonce, verifier=auth.code_verifier)
            return redirect(auth.url)
        """
        if self.endpoint.domain is None:
            raise ConfigurationError("the hosted sign-in pages need domain=...")
        return authorization_request(
            self.endpoint.domain,
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            resource=resource,
        )

    # -- flows shared by the sync and async methods --------------------------------------------

    def _refresh_flow(
        self,
        refresh_token: str,
        device_key: str | None,
        client_metadata: Mapping[str, str] | None,
        username: str | None,
        resource: str | None = None,
    ) -> Flow[TokenSet]:
        require_text(refresh_token, "refresh_token")
        if device_key is not None:
            require_text(device_key, "device_key")
        if client_metadata is not None:
            client_metadata = check_client_metadata(client_metadata)
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
            resource=resource,
        )

    def _exchange_flow(
        self,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
        nonce: str | None,
        resource: str | None = None,
    ) -> Flow[TokenSet]:
        require_text(code, "code")
        require_text(redirect_uri, "redirect_uri")
        verify = self.id_token_verifier is not None
        return exchange_code_flow(
            self.endpoint, code, redirect_uri, code_verifier, nonce, self.clock, verify, resource
        )

    def _sign_out_flow(
        self, tokens: TokenSet, revocations: RevocationWrites | None
    ) -> _ClientFlow[None]:
        failure: CognitoGuardError | None = None
        if tokens.refresh_token:
            try:
                yield from revoke_flow(self.endpoint, tokens.refresh_token)
            except (OAuthError, TokenEndpointUnavailable) as exc:
                failure = exc  # the session is recorded all the same
        if revocations is not None:
            for kind, ident in _session_ids(tokens):
                if kind == "origin_jti":
                    yield _Call(revocations.revoke_session, revocations.arevoke_session, ident)
                else:
                    yield _Call(revocations.revoke_token, revocations.arevoke_token, ident)
        if failure is not None:
            raise failure

    def _global_sign_out_flow(
        self, access_token: str, revocations: RevocationWrites | None
    ) -> _ClientFlow[None]:
        require_text(access_token, "access_token")
        yield from global_sign_out_flow(self.endpoint, access_token)
        at = self.clock()  # after Cognito's answer: every token issued until then is covered
        if revocations is not None:
            sub = _sub_of(access_token)
            yield _Call(revocations.sign_out_user, revocations.asign_out_user, sub, at)

    def _slot(self, scopes: tuple[object, ...]) -> _TokenSlot:
        with self._slots_lock:
            slot = self._slots.get(scopes)
            if slot is None:
                slot = self._slots[scopes] = _TokenSlot()
            return slot

    # -- the two drivers -----------------------------------------------------------------------

    # A client per operation (its connection is not kept between operations), but one TLS context
    # per process: loading the CA bundle costs tens of milliseconds.

    def _run(self, flow: _ClientFlow[T]) -> T:
        step = resume(flow, None)  # configuration errors surface here, before any connection
        options = client_options(self._timeout, self._transport)
        with httpx.Client(transport=self._transport, **options) as http:
            while not isinstance(step, Finished):
                if isinstance(step, HttpCall):
                    step = resume(flow, self._send(http, step))
                else:
                    step = resume(flow, self._call(step).run())
        return step.value

    async def _arun(self, flow: _ClientFlow[T]) -> T:
        step = resume(flow, None)
        options = client_options(self._timeout, self._async_transport)
        async with httpx.AsyncClient(transport=self._async_transport, **options) as http:
            while not isinstance(step, Finished):
                if isinstance(step, HttpCall):
                    step = resume(flow, await self._asend(http, step))
                else:
                    step = resume(flow, await self._call(step).arun())
        return step.value

    # A failed send is thrown into the flow, which may answer with the call again (refresh
    # retries once within the grace period) or let it propagate.

    def _send(self, http: httpx.Client, call: HttpCall) -> HttpReply | Failed:
        try:
            with _sending(call) as reply, http.stream(**_request(call)) as response:
                return reply(response, read_capped(response.iter_bytes(), MAX_REPLY_BYTES))
        except TokenEndpointUnavailable as exc:
            return Failed(exc)

    async def _asend(self, http: httpx.AsyncClient, call: HttpCall) -> HttpReply | Failed:
        try:
            with _sending(call) as reply:
                async with http.stream(**_request(call)) as response:
                    body = await aread_capped(response.aiter_bytes(), MAX_REPLY_BYTES)
                    return reply(response, body)
        except TokenEndpointUnavailable as exc:
            return Failed(exc)

    def _call(self, step: VerifyIdToken | _Call) -> _Call:
        if isinstance(step, _Call):
            return step
        verifier = self.id_token_verifier
        assert verifier is not None  # noqa: S101 - flows ask only when it is set
        return _Call(verifier.verify, verifier.averify, step.token)


class _Call:
    """A step of the client's flows: a call of a component that has a sync and an async form
    (the ID-token verifier, a revocation list); each driver calls the form it can."""

    __slots__ = ("_args", "_asynchronous", "_sync")

    def __init__(
        self,
        sync: Callable[..., object],
        asynchronous: Callable[..., Awaitable[object]],
        *args: object,
    ) -> None:
        self._sync, self._asynchronous, self._args = sync, asynchronous, args

    def run(self) -> object:
        return self._sync(*self._args)

    async def arun(self) -> object:
        return await self._asynchronous(*self._args)


_ClientFlow = Generator[Step | _Call, Any, T]


@contextlib.contextmanager
def _sending(call: HttpCall) -> Iterator[Callable[[httpx.Response, bytes], HttpReply]]:
    """The telemetry span of one call, in which a transport failure becomes
    :class:`TokenEndpointUnavailable`; yields the function that makes the flow's reply."""
    with _telemetry.request(call.operation, call.method, call.url) as span:

        def reply(response: httpx.Response, body: bytes) -> HttpReply:
            _telemetry.answered(span, response.status_code)
            log.debug("%s answered HTTP %d", call.operation, response.status_code)
            return HttpReply(response.status_code, response.headers, body)

        try:
            yield reply
        except (httpx.HTTPError, BodyTooLarge) as exc:
            raise _transport_failure(call, exc) from exc


def _request(call: HttpCall) -> dict[str, Any]:
    content = call.content or None
    return {"method": call.method, "url": call.url, "headers": call.headers, "content": content}


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
