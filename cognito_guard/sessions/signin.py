"""WebSignIn: Cognito managed login for browser apps, with the tokens kept on the server.

The browser holds only an opaque session id in an HttpOnly cookie; the tokens stay in a
:class:`~cognito_guard.sessions.SessionStore`. The flow is written once here, on the neutral
:class:`~cognito_guard.sessions.WebRequest` / :class:`~cognito_guard.sessions.WebResponse`; the
framework glue (each adapter's ``sessions`` module) only converts requests and responses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

from .._oauth import OAuthError, TokenEndpointUnavailable, TokenSet
from ..bearer import Answer, BearerGuard, Credentials, _printable
from ..claims import CognitoClaims
from ..client import CognitoTokenClient
from ..errors import (
    CognitoGuardError,
    ConfigurationError,
    InvalidHostError,
    KeysUnavailableError,
    ServiceUnavailableError,
    SessionAuthError,
    TokenError,
)
from ..issuers import is_loopback_host
from ..m2m_cache import effective_skew
from ..pkce import authorization_request
from ..verifier import CognitoVerifier
from .stores import Record, SessionStore, SessionStoreUnavailable
from .web import CookieRules, WebRequest, WebResponse, csrf_satisfied, safe_return_to

__all__ = ["ROUTES", "SessionAuthError", "SessionGuard", "WebSignIn"]

log = logging.getLogger("cognito_guard")

ROUTES = {"login": "GET", "callback": "GET", "logout": "POST", "user": "GET"}
"""The four routes under the prefix and their methods."""

_LOGIN_COOKIE = "_login"  # suffix of the cookie that ties a sign-in state to the browser
_PASS_THROUGH = ("identity_provider", "lang", "prompt")
_PASS_VALUE = re.compile(r"[A-Za-z0-9_.:\- ]{1,128}", re.ASCII)
_ERROR_CODE = re.compile(r"[a-z_]{1,64}", re.ASCII)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _seconds(
    value: float | None, what: str, *, allow_none: bool = False, zero: bool = False
) -> Any:
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value < 0
        or (value == 0 and not zero)
    ):
        raise ConfigurationError(f"{what} must be a positive number of seconds")
    return float(value)


class WebSignIn:
    """Sign-in with Cognito's managed login for browser apps (the "backend for frontend").

    Mount its four routes with an adapter (``CognitoGuard(app, sign_in=sign_in)`` in Flask and
    Starlette, ``COGNITO_GUARD["SIGN_IN"]`` in Django): ``GET {prefix}/login``,
    ``GET {prefix}/callback``, ``POST {prefix}/logout`` and ``GET {prefix}/user``. The guards
    then accept the session cookie as well as a bearer token.

    Example::

        sign_in = WebSignIn(
            client=CognitoTokenClient(client_id=..., client_secret=...,
                                      domain="https://auth.example.com"),
            verifier=CognitoVerifier(user_pool_id=..., client_id=..., token_use="access"),
            redirect_uri="https://app.example.com/auth/callback",
            scopes=["openid", "email", "orders/read"],
            store=MemorySessionStore(),
            logout_uri="https://app.example.com/",
        )

    Args:
        client: the app client's token client; it needs ``domain=`` (the managed login pages).
        verifier: verifies the session's access tokens (``token_use="access"``).
        redirect_uri: this app's callback URL, registered in the app client; a path
            (``/auth/callback``) is taken on the origin of each sign-in request (Cognito accepts
            only the registered URLs; behind a proxy, pass the public ``Host``).
        scopes: the scopes to ask for; must include ``openid`` (the ID token carries the nonce).
        store: where sessions live (:class:`MemorySessionStore`, :class:`RedisSessionStore`).
        logout_uri: where Cognito's ``/logout`` sends the browser (an allowed sign-out URL; a
            path is taken on the request's origin); without it logout ends the session here
            and redirects to ``/``.
        revocations: a revocation list; logout records the session's ``origin_jti`` there
            (anything with ``revoke_session(origin_jti)``).
        prefix: the path under which the routes are mounted.
        cookie: the cookie rules (name, ``SameSite``).
        insecure_dev_cookies: for development on plain ``http://`` to a loopback host only: the
            cookies lose ``Secure`` and the ``__Host-`` prefix on such requests (browsers refuse
            them there otherwise), and a warning is logged here. Off by default, and never
            guessed from a request: a TLS-terminating proxy that forwards plain http with
            ``Host: 127.0.0.1`` looks exactly like development.
        session_lifetime: seconds a session lasts at most (set it to the refresh token's).
        idle_timeout: seconds without a request after which a session ends (None: no limit).
        refresh_skew: refresh the access token this many seconds before it expires (at most
            half the token's lifetime, so short-lived tokens are not refreshed on every request).
        refresh_lock_lease: seconds one refresh may hold the session's lock (longer than a
            token request); waiting requests wait as long at most.
        login_ttl: seconds a started sign-in may take.
        id_token_verifier: verifies the ID token at the callback (default: like ``verifier``).
        clock: epoch seconds (tests).
    """

    def __init__(
        self,
        *,
        client: CognitoTokenClient,
        verifier: CognitoVerifier,
        redirect_uri: str,
        store: SessionStore,
        scopes: Iterable[str] = ("openid", "email"),
        logout_uri: str | None = None,
        revocations: Any = None,
        prefix: str = "/auth",
        cookie: CookieRules | None = None,
        insecure_dev_cookies: bool = False,
        session_lifetime: float = 30 * 86400,
        idle_timeout: float | None = None,
        refresh_skew: float = 60,
        refresh_lock_lease: float = 30,
        login_ttl: float = 300,
        id_token_verifier: CognitoVerifier | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(client, CognitoTokenClient) or client.endpoint.domain is None:
            raise ConfigurationError(
                "WebSignIn needs a CognitoTokenClient with domain=... (the managed login pages)"
            )
        if not isinstance(verifier, CognitoVerifier):
            raise ConfigurationError("WebSignIn needs verifier=CognitoVerifier(...)")
        if verifier.token_use == "id":
            raise ConfigurationError(
                "WebSignIn's verifier checks access tokens: token_use='access'"
            )
        self.client = client
        self.verifier = verifier
        self.id_token_verifier = id_token_verifier or verifier.for_id_tokens()
        self.redirect_uri = _check_url(redirect_uri, "redirect_uri")
        self.logout_uri = _check_url(logout_uri, "logout_uri") if logout_uri is not None else None
        self.scopes = tuple(dict.fromkeys([scopes] if isinstance(scopes, str) else scopes))
        if "openid" not in self.scopes:
            raise ConfigurationError("scopes must include 'openid' (the ID token holds the nonce)")
        for method in ("get", "put", "replace", "delete", "put_login", "take_login", "lock"):
            if not callable(getattr(store, method, None)):
                raise ConfigurationError(f"store must be a session store (it has no {method}())")
        self.store = store
        if revocations is not None and not callable(getattr(revocations, "revoke_session", None)):
            raise ConfigurationError("revocations must have a revoke_session(origin_jti) method")
        self.revocations = revocations
        if not isinstance(prefix, str) or not re.fullmatch(r"(/[A-Za-z0-9_.~-]+)+", prefix):
            raise ConfigurationError(f"prefix must look like '/auth', not {prefix!r}")
        self.prefix = prefix
        if not isinstance(insecure_dev_cookies, bool):
            raise ConfigurationError("insecure_dev_cookies must be True or False")
        self.cookie = cookie or CookieRules()
        if insecure_dev_cookies:
            self.cookie = dataclasses.replace(self.cookie, insecure_dev_cookies=True)
        if self.cookie.insecure_dev_cookies:
            _check_dev_only(self.redirect_uri)
            log.warning(
                "insecure_dev_cookies is on: on plain http to a loopback host the session "
                "cookie is set without Secure and without the __Host- prefix; for development "
                "only, never in production"
            )
        self.session_lifetime = _seconds(session_lifetime, "session_lifetime")
        self.idle_timeout = _seconds(idle_timeout, "idle_timeout", allow_none=True)
        self.refresh_skew = _seconds(refresh_skew, "refresh_skew", zero=True)
        self.refresh_lock_lease = _seconds(refresh_lock_lease, "refresh_lock_lease")
        self.login_ttl = _seconds(login_ttl, "login_ttl")
        self.clock = clock

    def __repr__(self) -> str:
        return f"WebSignIn(client_id={self.client.client_id!r}, prefix={self.prefix!r})"

    # -- URLs ----------------------------------------------------------------------------------

    def logout_url(self, request: WebRequest | None = None) -> str:
        """Cognito's ``/logout`` URL that ends the managed-login session and comes back.

        ``request`` resolves a relative ``logout_uri`` against its origin.
        """
        if self.logout_uri is None:
            return "/"
        logout_uri = _absolute(self.logout_uri, request)
        query = urlencode({"client_id": self.client.client_id, "logout_uri": logout_uri})
        return f"{self.client.endpoint.domain}/logout?{query}"

    def login_url(self, return_to: str = "/") -> str:
        """This app's sign-in route that comes back to ``return_to`` (a relative path)."""
        return f"{self.prefix}/login?{urlencode({'return_to': safe_return_to(return_to)})}"

    # -- routing -------------------------------------------------------------------------------

    def handle(self, request: WebRequest) -> WebResponse | None:
        """Answer a request to one of the four routes; None for any other path.

        Example: ``response = sign_in.handle(web_request)`` (adapters call this)
        """
        if not request.path.startswith(self.prefix + "/"):
            return None
        name = request.path[len(self.prefix) + 1 :]
        return self.handle_route(name, request) if name in ROUTES else None

    def handle_route(self, name: str, request: WebRequest) -> WebResponse:
        """Answer ``request`` with the route ``name`` (``login``, ``callback``, ``logout``,
        ``user``), wherever the framework mounted it.

        Example: ``sign_in.handle_route("user", web_request)``
        """
        method = ROUTES[name]
        allowed = (method, "HEAD") if method == "GET" else (method,)
        if request.method not in allowed:
            return WebResponse(405, (("Allow", method), ("Cache-Control", "no-store")))
        view: Callable[[WebRequest], WebResponse] = getattr(self, name)
        try:
            return view(request)
        except InvalidHostError as exc:
            return WebResponse.page(exc.status_code, "Bad request", exc.description)
        except SessionStoreUnavailable as exc:
            return _unavailable_page(exc, "The sign-in service is unavailable right now.")

    async def ahandle(self, request: WebRequest) -> WebResponse | None:
        """:meth:`handle` on a worker thread: the event loop never waits for Cognito or Redis."""
        return await asyncio.to_thread(self.handle, request)

    async def ahandle_route(self, name: str, request: WebRequest) -> WebResponse:
        """:meth:`handle_route` on a worker thread."""
        return await asyncio.to_thread(self.handle_route, name, request)

    # -- the routes ----------------------------------------------------------------------------

    def login(self, request: WebRequest) -> WebResponse:
        """``GET {prefix}/login?return_to=/path``: a 302 to Cognito's managed login."""
        extra = {
            name: value
            for name in _PASS_THROUGH
            if (value := request.query.get(name)) and _PASS_VALUE.fullmatch(value)
        }
        identity_provider = extra.pop("identity_provider", None)
        domain = self.client.endpoint.domain
        assert domain is not None  # noqa: S101 - checked in __init__
        redirect_uri = _absolute(self.redirect_uri, request)
        auth = authorization_request(
            domain,
            client_id=self.client.client_id,
            redirect_uri=redirect_uri,
            scopes=self.scopes,
            identity_provider=identity_provider,
            extra=extra,
        )
        # One browser value for every tab's sign-in: the callback must come back to the browser
        # that started it (else an attacker could sign a victim in to the attacker's account).
        binding = self.cookie.read(request, _LOGIN_COOKIE) or secrets.token_urlsafe(24)
        record = {
            "verifier": auth.code_verifier,
            "nonce": auth.nonce,
            "return_to": safe_return_to(request.query.get("return_to")),
            "redirect_uri": redirect_uri,
            "binding": _hash(binding),
            "created": self.clock(),
        }
        self.store.put_login(auth.state, record, self.login_ttl)
        cookie = self.cookie.set(request, binding, int(self.login_ttl), _LOGIN_COOKIE)
        return WebResponse.redirect(auth.url, (("Set-Cookie", cookie),))

    def callback(self, request: WebRequest) -> WebResponse:
        """``GET {prefix}/callback?code=...&state=...``: the session, then a 302 to return_to."""
        state = request.query.get("state", "")
        record = self.store.take_login(state) if state else None  # single use, even on error
        if record is None or record.get("created", 0) + self.login_ttl <= self.clock():
            return _failed("This sign-in attempt is unknown, already used or expired.")
        binding = self.cookie.read(request, _LOGIN_COOKIE) or ""
        if not hmac.compare_digest(_hash(binding), str(record.get("binding", ""))):
            return _failed("This sign-in was started in another browser.")
        error = request.query.get("error")
        if error is not None:
            shown = error if _ERROR_CODE.fullmatch(error) else "error"
            return _failed(f"The sign-in was refused ({shown}).")
        code = request.query.get("code")
        if not code:
            return _failed("The sign-in response has no authorization code.")
        check_nonce = self.client.id_token_verifier is not None
        try:
            tokens = self.client.exchange_code(
                code,
                redirect_uri=str(record["redirect_uri"]),
                code_verifier=str(record["verifier"]),
                nonce=str(record["nonce"]) if check_nonce else None,
            )
            if not tokens.id_token or not tokens.refresh_token:
                return _failed("Cognito returned no ID token or no refresh token.")
            id_claims = self.id_token_verifier.verify(tokens.id_token)
            nonce = str(id_claims.get("nonce", ""))
            if not hmac.compare_digest(nonce.encode(), str(record["nonce"]).encode()):
                return _failed("The ID token's nonce is not the one of this sign-in.")
            claims = self.verifier.verify(tokens.access_token)
        except OAuthError as exc:
            log.info("the code exchange was refused (%s)", exc.error)
            return _failed(f"The sign-in could not be completed ({exc.error}).")
        except (TokenEndpointUnavailable, KeysUnavailableError) as exc:
            log.warning("sign-in callback answering 503: %s", exc)
            return _unavailable_page(exc, "Cognito cannot be reached.")
        except TokenError as exc:
            log.info("a sign-in's token was rejected (%s)", type(exc).__name__)
            return _failed("The tokens of this sign-in were rejected.")
        if id_claims.sub != claims.sub:
            return _failed("The ID and access tokens are of different users.")
        old = self.cookie.read(request)
        if old is not None:
            self.store.delete(old)  # no session fixation: the old id is dead
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        session: Record = {
            "tokens": tokens.as_dict(),
            "created": now,
            "last_seen": now,
            "sub": claims.sub,
            "username": claims.username or tokens.username,
            "email": id_claims.email,
            "origin_jti": claims.origin_jti,
        }
        self.store.put(session_id, session, self.session_lifetime)
        log.info("signed in sub=%s", claims.sub)
        cookie = self.cookie.set(request, session_id, int(self.session_lifetime))
        return WebResponse.redirect(str(record["return_to"]), (("Set-Cookie", cookie),))

    def logout(self, request: WebRequest) -> WebResponse:
        """``POST {prefix}/logout`` (with ``X-CSRF: 1``, or past the framework's CSRF check): end
        the session here and at Cognito."""
        if not csrf_satisfied(request):
            return _response(_csrf_refusal())
        session_id = self.cookie.read(request)
        if session_id is not None:
            record = self.store.get(session_id)
            if record is not None:
                self._end(record)
            self.store.delete(session_id)
        headers = (("Set-Cookie", self.cookie.clear(request)),)
        if request.wants_json:
            return WebResponse.json({"logout_url": self.logout_url(request)}, headers=headers)
        return WebResponse.redirect(self.logout_url(request), headers)

    def _end(self, record: Record) -> None:
        refresh_token = record.get("tokens", {}).get("refresh_token")
        if refresh_token:
            try:
                self.client.revoke(refresh_token)
            except (OAuthError, TokenEndpointUnavailable) as exc:
                # The session ends here regardless; the refresh token then expires on its own.
                log.warning("logout could not revoke the refresh token: %s", exc)
        origin = record.get("origin_jti")
        if self.revocations is not None and origin:
            try:
                self.revocations.revoke_session(origin)
            except CognitoGuardError as exc:
                log.error("logout could not record the revocation: %s", exc)
        log.info("signed out sub=%s", record.get("sub"))

    def user(self, request: WebRequest) -> WebResponse:
        """``GET {prefix}/user``: JSON of the signed-in user, or 401."""
        try:
            found = self._authenticate(request)
        except SessionAuthError as exc:
            return _response(exc)
        if found is None:
            return WebResponse.json(
                {"error": "unauthorized", "error_description": "not signed in"}, 401
            )
        claims, record = found
        return WebResponse.json(
            {
                "sub": claims.sub,
                "username": claims.username,
                "email": record.get("email"),
                "groups": sorted(claims.groups),
                "scopes": sorted(claims.scopes),
                "expires_at": int(self._ends_at(record)),
                "logout_url": self.logout_url(request),
            }
        )

    # -- authenticating requests by the cookie -------------------------------------------------

    def authenticate(self, request: WebRequest) -> CognitoClaims | None:
        """The claims of the session's access token (refreshed when due); None without a cookie.

        Raises :class:`SessionAuthError` (401 ended, 403 CSRF, 503 unavailable) and
        :class:`~cognito_guard.KeysUnavailableError`.

        Example: ``claims = sign_in.authenticate(web_request)``
        """
        found = self._authenticate(request)
        return None if found is None else found[0]

    async def aauthenticate(self, request: WebRequest) -> CognitoClaims | None:
        """:meth:`authenticate` on a worker thread (the refresh lock may make it wait)."""
        return await asyncio.to_thread(self.authenticate, request)

    def _authenticate(self, request: WebRequest) -> tuple[CognitoClaims, Record] | None:
        session_id = self.cookie.read(request)
        if session_id is None:
            return None
        if not csrf_satisfied(request):
            raise _csrf_refusal()
        if request.websocket and not request.same_origin:
            raise SessionAuthError(
                403,
                "cross_origin_websocket",
                "a WebSocket authenticated by the session cookie must come from this origin",
            )
        try:
            record = self._current(request, session_id)
            try:
                claims = self.verifier.verify(str(record["tokens"]["access_token"]))
            except TokenError as exc:
                log.info("a session's token was rejected (%s)", type(exc).__name__)
                self.store.delete(session_id)
                self._ended(request, "the session's token was rejected")
        except SessionStoreUnavailable as exc:
            raise SessionAuthError.unavailable(
                "the session store is unavailable", exc.retry_after
            ) from None
        return claims, record

    def _ends_at(self, record: Record) -> float:
        end: float = float(record.get("created", 0)) + self.session_lifetime
        if self.idle_timeout is not None:
            end = min(end, float(record.get("last_seen", 0)) + self.idle_timeout)
        return end

    def _due(self, record: Record) -> bool:
        tokens = TokenSet.from_dict(record["tokens"], clock=self.clock)
        return tokens.is_expired(effective_skew(tokens, self.refresh_skew))

    def _current(self, request: WebRequest, session_id: str) -> Record:
        """The session's record with a usable access token: refreshed (once) when due."""
        record = self.store.get(session_id)
        if record is None or self._ends_at(record) <= self.clock():
            if record is not None:
                self.store.delete(session_id)
            self._ended(request, "the session has ended: sign in again")
        touch = self.idle_timeout is not None and (
            self.clock() - float(record["last_seen"]) > min(60.0, self.idle_timeout / 10)
        )
        if not self._due(record) and not touch:
            return record
        # Re-read under the lock: a concurrent request may have refreshed (and, with rotation,
        # retired the refresh token we hold) while we waited.
        lease = self.refresh_lock_lease
        with self.store.lock(session_id, lease, lease):
            current = self.store.get(session_id)
            if current is None:
                self._ended(request, "the session has ended: sign in again")
            held = current["tokens"].get("refresh_token")
            fresh = self._refresh(request, session_id, current) if self._due(current) else None
            if fresh is not None:
                current["tokens"] = fresh.as_dict()
            current["last_seen"] = self.clock()
            remaining = self._ends_at(current) - self.clock()
            if remaining <= 0:
                self.store.delete(session_id)
                self._ended(request, "the session has ended: sign in again")
            # Only over a session that still exists: a logout during the refresh wins.
            if not self.store.replace(session_id, current, remaining):
                rotated = fresh.refresh_token if fresh is not None else None
                if rotated is not None and rotated != held:
                    self._discard(rotated)
                self._ended(request, "the session has ended: sign in again")
        return current

    def _discard(self, refresh_token: str) -> None:
        """Revoke the rotated refresh token a refresh got for a session that ended meanwhile."""
        try:
            self.client.revoke(refresh_token)
        except (OAuthError, TokenEndpointUnavailable) as exc:
            log.warning("could not revoke the refresh token of a session ended meanwhile: %s", exc)

    def _refresh(self, request: WebRequest, session_id: str, record: Record) -> TokenSet:
        tokens = TokenSet.from_dict(record["tokens"], clock=self.client.clock)
        assert tokens.refresh_token is not None  # noqa: S101 - stored only with one
        try:
            fresh = self.client.refresh(tokens.refresh_token, username=record.get("username"))
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                log.info("a session's refresh token is no longer valid")
                self.store.delete(session_id)
                self._ended(request, "the session has ended: sign in again")
            log.error("refreshing a session failed: %s", exc)
            # Refused for another reason than a dead refresh token (a misconfigured app client):
            # no verdict on the session, which is kept; a retry at once would be refused again.
            raise SessionAuthError.unavailable(
                "the session cannot be refreshed right now", 30
            ) from None
        except TokenEndpointUnavailable as exc:
            log.warning("refreshing a session failed: %s", exc)
            raise SessionAuthError.unavailable(
                "Cognito cannot be reached to refresh the session", exc.retry_after
            ) from None
        if fresh.refresh_token is None:  # no rotation: keep the one we have
            fresh = TokenSet.from_dict(
                {**fresh.as_dict(), "refresh_token": tokens.refresh_token}, clock=fresh.clock
            )
        return fresh

    def _ended(self, request: WebRequest, why: str) -> NoReturn:
        raise SessionAuthError(401, "session_ended", why, clear_cookie=self.cookie.clear(request))


def _csrf_refusal() -> SessionAuthError:
    return SessionAuthError(
        403,
        "csrf_header_missing",
        "a request authenticated by the session cookie with an unsafe method must carry "
        "the header 'X-CSRF: 1'",
    )


def _session_answer(exc: SessionAuthError) -> Answer:
    """The answer to a refused session request, built from the error's data.

    A 401 carries a bare ``Bearer`` challenge, a 503 its ``Retry-After``, an ended session the
    ``Set-Cookie`` that deletes the cookie; no cache keeps any of them.
    """
    headers: list[tuple[str, str]] = []
    if exc.status_code == 401:  # RFC 9110 section 15.5.2: a 401 carries a challenge
        headers.append(("WWW-Authenticate", "Bearer"))
    if exc.retry_after is not None:
        headers.append(("Retry-After", str(exc.retry_after)))
    if exc.clear_cookie is not None:
        headers.append(("Set-Cookie", exc.clear_cookie))
    headers.append(("Cache-Control", "no-store"))
    return Answer(
        exc.status_code, tuple(headers), exc.error_code or "unauthorized", exc.description
    )


def _response(exc: SessionAuthError) -> WebResponse:
    answer = _session_answer(exc)
    return WebResponse.json(answer.body, answer.status, answer.headers)


def _unavailable_page(exc: ServiceUnavailableError, text: str) -> WebResponse:
    # ServiceUnavailableError's status: a TokenEndpointUnavailable's own is Cognito's.
    retry_after = (("Retry-After", str(exc.retry_after)),)
    return WebResponse.page(
        ServiceUnavailableError.status_code, "Try again later", text, retry_after
    )


def _failed(why: str) -> WebResponse:
    return WebResponse.page(400, "Sign-in failed", why)


def _check_dev_only(redirect_uri: str) -> None:
    if redirect_uri.startswith("/"):
        return
    host = urlsplit(redirect_uri).hostname or ""
    if not is_loopback_host(host):
        raise ConfigurationError(
            f"insecure_dev_cookies=True is for development on a loopback host, but "
            f"redirect_uri is on {host!r}: turn it off"
        )


def _check_url(url: object, what: str) -> str:
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a URL string")
    if url.startswith("/"):
        if safe_return_to(url) != url:
            raise ConfigurationError(f"{what} {url!r} is not a plain path")
        return url  # resolved against each request's origin
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ConfigurationError(f"{what} {url!r} is not a valid URL") from None
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        raise ConfigurationError(f"{what} must be https (plain http only on loopback hosts)")
    if not host or parts.fragment or parts.username:
        raise ConfigurationError(f"{what} {url!r} must be a plain absolute URL")
    return url


_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?", re.ASCII)


def _absolute(url: str, request: WebRequest | None) -> str:
    """``url``, or for a path the URL on ``request``'s origin (Cognito checks it is allowed)."""
    if not url.startswith("/"):
        return url
    if request is None:
        raise ConfigurationError("a relative URL needs the request to resolve it")
    host = request.header("host")
    if not _HOST.fullmatch(host) or request.scheme not in ("http", "https"):
        raise InvalidHostError("the Host header is not a host name")
    return f"{request.scheme}://{host}{url}"


class SessionGuard(BearerGuard):
    """A :class:`~cognito_guard.bearer.BearerGuard` that also authenticates by session cookie.

    Adapters use it when given ``sign_in=``, through the same
    :meth:`~cognito_guard.bearer.BearerGuard.authenticate` as a bearer guard: a request with an
    ``Authorization`` header is judged by its bearer token alone; one without is authenticated
    by :meth:`WebSignIn.authenticate`, on the :class:`~cognito_guard.sessions.WebRequest` its
    :class:`~cognito_guard.bearer.Credentials` build. Its refusals answer with their own
    :class:`Answer` (clearing the cookie, ``Retry-After``).

    Example::

        guard = SessionGuard(verifier, sign_in=sign_in)
        claims = guard.authenticate(Credentials(header_values, request, to_web_request))
    """

    def __init__(
        self, verifier: CognitoVerifier, *, sign_in: WebSignIn, realm: str | None = None
    ) -> None:
        if not isinstance(sign_in, WebSignIn):
            raise ConfigurationError(f"sign_in must be a WebSignIn, not {type(sign_in).__name__}")
        super().__init__(verifier, realm=realm)
        self.sign_in = sign_in

    def authenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        """The bearer token's claims, or without an ``Authorization`` header the session's.

        Raises like :meth:`BearerGuard.authenticate`, and :class:`SessionAuthError` for a
        refused session (401 ended, 403 CSRF, 503 unavailable). A plain sequence of header
        values, or credentials without ``to_web_request``, carry no cookie.

        Example: ``claims = guard.authenticate(Credentials((), request, to_web_request))``
        """
        request = _cookie_request(credentials)
        if request is None:
            return super().authenticate(credentials)
        return self.sign_in.authenticate(request)

    async def aauthenticate(self, credentials: Credentials | Sequence[str]) -> CognitoClaims | None:
        """Like :meth:`authenticate`; the session is read on a worker thread.

        Example: ``claims = await guard.aauthenticate(Credentials((), request, to_web_request))``
        """
        request = _cookie_request(credentials)
        if request is None:
            return await super().aauthenticate(credentials)
        return await self.sign_in.aauthenticate(request)

    def answer(
        self, exc: CognitoGuardError, *, method: str | None = None, path: str | None = None
    ) -> Answer:
        """The session refusal's own answer, or the bearer answer."""
        if isinstance(exc, SessionAuthError):
            answer = _session_answer(exc)
            where = f"{method or '-'} {_printable(path) if path is not None else '-'}"
            log.info("refused a session request %s: %s", where, answer.error)
            return answer
        return super().answer(exc, method=method, path=path)


def _cookie_request(credentials: Credentials | Sequence[str]) -> WebRequest | None:
    # Only a request without an Authorization header is judged by its cookie: a header, even a
    # malformed one, is the client's choice of credentials and gets the bearer answer.
    if isinstance(credentials, Credentials) and not credentials.authorization:
        request: WebRequest | None = credentials.web_request()
        return request
    return None
