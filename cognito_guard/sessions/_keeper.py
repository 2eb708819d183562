"""Authenticating a request by its session cookie: the CSRF and origin rules, the session's end,
and the refresh of its tokens (once, under the session's lock) when they are due.

:class:`SessionKeeper` is the part of :class:`~cognito_guard.sessions.WebSignIn` that a
:class:`~cognito_guard.sessions.SessionGuard` calls on every request without an
``Authorization`` header; the sign-in routes are in :mod:`cognito_guard.sessions.signin`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import NoReturn

from .._oauth import OAuthError, TokenEndpointUnavailable, TokenSet
from ..claims import CognitoClaims
from ..client import CognitoTokenClient
from ..errors import SessionAuthError, TokenError
from ..m2m_cache import effective_skew
from ..verifier import CognitoVerifier
from .stores import Record, SessionStore, SessionStoreUnavailable
from .web import CookieRules, WebRequest, csrf_satisfied

__all__ = ["SessionKeeper"]

log = logging.getLogger("cognito_guard")


class SessionKeeper:
    """The claims of a request's session, its tokens refreshed when due.

    The attributes are :class:`~cognito_guard.sessions.WebSignIn`'s settings, checked by its
    constructor (the only subclass).
    """

    client: CognitoTokenClient
    verifier: CognitoVerifier
    store: SessionStore
    cookie: CookieRules
    clock: Callable[[], float]
    session_lifetime: float
    idle_timeout: float | None
    refresh_skew: float
    refresh_lock_lease: float

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
