"""SessionGuard: the bearer guard that also authenticates by the web sign-in's session cookie,
and the answers to its refusals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..bearer import Answer, BearerGuard, Credentials, _printable
from ..claims import CognitoClaims
from ..errors import CognitoGuardError, ConfigurationError, SessionAuthError
from ..verifier import CognitoVerifier
from ._keeper import SessionKeeper
from .web import WebRequest, WebResponse

__all__ = ["SessionGuard", "guard_for"]

log = logging.getLogger("cognito_guard")


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


class SessionGuard(BearerGuard):
    """A :class:`~cognito_guard.bearer.BearerGuard` that also authenticates by session cookie.

    Adapters use it when given ``sign_in=``, through the same
    :meth:`~cognito_guard.bearer.BearerGuard.authenticate` as a bearer guard: a request with an
    ``Authorization`` header is judged by its bearer token alone; one without is authenticated
    by :meth:`~cognito_guard.sessions.WebSignIn.authenticate`, on the
    :class:`~cognito_guard.sessions.WebRequest` its :class:`~cognito_guard.bearer.Credentials`
    build. Its refusals answer with their own
    :class:`Answer` (clearing the cookie, ``Retry-After``).

    Example::

        guard = SessionGuard(verifier, sign_in=sign_in)
        claims = guard.authenticate(Credentials(header_values, request, to_web_request))
    """

    def __init__(
        self,
        verifier: CognitoVerifier,
        *,
        sign_in: SessionKeeper,
        realm: str | None = None,
        resource: str | None = None,
    ) -> None:
        # SessionKeeper is WebSignIn's base: the part of it this guard calls (WebSignIn's module
        # imports this one, to keep SessionGuard importable from it).
        if not isinstance(sign_in, SessionKeeper):
            raise ConfigurationError(f"sign_in must be a WebSignIn, not {type(sign_in).__name__}")
        super().__init__(verifier, realm=realm, resource=resource)
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


def guard_for(
    verifier: CognitoVerifier, sign_in: SessionKeeper | None, **options: str | None
) -> BearerGuard:
    """The guard an adapter authenticates with: a :class:`SessionGuard` with ``sign_in``, else a
    :class:`~cognito_guard.bearer.BearerGuard`; ``options`` are their ``realm`` and
    ``resource``. Both refuse bad options at construction, before any route is mounted.

    Example: ``guard = guard_for(verifier, sign_in, resource="https://api.example.com")``
    """
    if sign_in is None:
        return BearerGuard(verifier, **options)
    return SessionGuard(verifier, sign_in=sign_in, **options)


def _cookie_request(credentials: Credentials | Sequence[str]) -> WebRequest | None:
    # Only a request without an Authorization header is judged by its cookie: a header, even a
    # malformed one, is the client's choice of credentials and gets the bearer answer.
    if isinstance(credentials, Credentials) and not credentials.authorization:
        request: WebRequest | None = credentials.web_request()
        return request
    return None
