"""WebSignIn: Cognito managed login for browser apps, with the tokens kept on the server.

The browser holds only an opaque session id in an HttpOnly cookie; the tokens stay in a
:class:`~cognito_guard.sessions.SessionStore`. The flow is written once here, on the neutral
:class:`~cognito_guard.sessions.WebRequest` / :class:`~cognito_guard.sessions.WebResponse`; the
framework glue (each adapter's ``sessions`` module) only converts requests and responses. This
module holds the settings and the four routes; authenticating a request by its cookie (and the
refresh) is :mod:`cognito_guard.sessions._keeper`, :class:`SessionGuard` is
:mod:`cognito_guard.sessions.guard` (and importable from here).
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
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

from .._audience import resource_indicator
from .._oauth import OAuthError, TokenEndpointUnavailable
from .._values import seconds
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
from ..pkce import authorization_request
from ..verifier import CognitoVerifier
from ._keeper import SessionKeeper, _csrf_refusal
from .guard import SessionGuard, _response
from .guard import guard_for as guard_for
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


class WebSignIn(SessionKeeper):
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
        resource: the API's resource indicator (RFC 8707), asked for at sign-in, so the
            sessions' access tokens carry it in ``aud``; one of ``verifier``'s audiences.
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
        resource: str | None = None,
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
        self.session_lifetime = seconds(session_lifetime, "session_lifetime")
        self.idle_timeout = None if idle_timeout is None else seconds(idle_timeout, "idle_timeout")
        self.refresh_skew = seconds(refresh_skew, "refresh_skew", zero=True)
        self.refresh_lock_lease = seconds(refresh_lock_lease, "refresh_lock_lease")
        self.login_ttl = seconds(login_ttl, "login_ttl")
        self.resource = None if resource is None else resource_indicator(resource)
        accepted = verifier.audiences
        if self.resource is not None and accepted and self.resource not in accepted:
            raise ConfigurationError(
                f"resource {self.resource!r} is not one of the verifier's audiences "
                f"{list(verifier.audiences)}: every session's token would be refused"
            )
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
            resource=self.resource,
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
