"""The CSRF rule of cookie-authenticated requests: ``X-CSRF: 1``, or the framework's own check.

An adapter hands the framework's verdict to the rule as ``WebRequest.framework_csrf``, a function
asked only when the header is missing on an unsafe request (Django's check reads the form).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from cognito_guard.bearer import Credentials
from cognito_guard.client import CognitoTokenClient
from cognito_guard.errors import SessionAuthError
from cognito_guard.sessions import MemorySessionStore, SessionGuard, WebRequest, WebSignIn
from cognito_guard.sessions.web import csrf_satisfied
from cognito_guard.testing import LocalIssuer

COOKIE = "__Host-cognito_session"


class Verdict:
    """A framework check that answers ``value`` and counts how often it was asked."""

    def __init__(self, value: object) -> None:
        self.value = value
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.value  # type: ignore[return-value]


def _request(
    method: str, check: Callable[[], bool] | None = None, session: str = "", **headers: str
) -> WebRequest:
    return WebRequest(
        method,
        "/orders",
        headers={"host": "app.example.com", **headers},
        cookies={COOKIE: session} if session else {},
        framework_csrf=check,
    )


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_need_nothing_and_never_ask_the_framework(method: str) -> None:
    check = Verdict(False)
    assert csrf_satisfied(_request(method, check))
    assert check.asked == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_header_suffices_and_the_framework_is_not_asked(method: str) -> None:
    check = Verdict(False)
    assert csrf_satisfied(_request(method, check, **{"x-csrf": "1"}))
    assert check.asked == 0
    assert not csrf_satisfied(_request(method, None, **{"x-csrf": "0"}))


@pytest.mark.parametrize(("value", "passes"), [(True, True), (False, False), (1, False)])
def test_without_the_header_the_frameworks_verdict_decides(value: object, passes: bool) -> None:
    check = Verdict(value)
    assert csrf_satisfied(_request("POST", check)) is passes
    assert check.asked == 1
    assert not csrf_satisfied(_request("POST"))  # no framework check: the header only


def test_the_verdict_is_no_part_of_the_requests_equality_or_repr() -> None:
    assert _request("POST", Verdict(True)) == _request("POST", Verdict(False))
    assert "framework_csrf" not in repr(_request("POST", Verdict(True)))


@pytest.fixture
def signed_in(cognito_issuer: LocalIssuer) -> tuple[SessionGuard, str]:
    """A session guard and the id of a live session of ``alice``."""
    store = MemorySessionStore()
    sign_in = WebSignIn(
        client=CognitoTokenClient(cognito_issuer.client_id, domain="https://auth.example.com"),
        verifier=cognito_issuer.verifier(token_use="access"),
        redirect_uri="https://app.example.com/auth/callback",
        store=store,
    )
    now = time.time()
    tokens = {
        "access_token": cognito_issuer.access_token(username="alice"),
        "refresh_token": None,  # logout then has nothing to revoke at Cognito
        "token_type": "Bearer",
        "expires_in": 3600,
        "expires_at": now + 3600,
    }
    store.put("sid", {"tokens": tokens, "created": now, "last_seen": now, "sub": "s"}, 3600)
    return SessionGuard(cognito_issuer.verifier(), sign_in=sign_in), "sid"


def _authenticate(guard: SessionGuard, request: WebRequest) -> str | None:
    claims = guard.authenticate(Credentials((), request, lambda r: r))
    return None if claims is None else claims.username


def test_a_cookie_post_the_framework_checked_is_authenticated(
    signed_in: tuple[SessionGuard, str],
) -> None:
    guard, sid = signed_in
    assert _authenticate(guard, _request("POST", Verdict(True), sid)) == "alice"
    with pytest.raises(SessionAuthError) as refused:
        _authenticate(guard, _request("POST", Verdict(False), sid))
    assert (refused.value.status_code, refused.value.error_code) == (403, "csrf_header_missing")


def test_the_framework_is_asked_only_for_a_request_with_a_session_cookie(
    signed_in: tuple[SessionGuard, str],
) -> None:
    guard, _sid = signed_in
    check = Verdict(True)
    assert _authenticate(guard, _request("POST", check)) is None  # no cookie: anonymous
    assert check.asked == 0


def test_logout_takes_the_frameworks_verdict_too(signed_in: tuple[SessionGuard, str]) -> None:
    guard, sid = signed_in
    sign_in = guard.sign_in
    refused = sign_in.handle_route("logout", _request("POST", Verdict(False), sid))
    assert refused.status == 403 and sign_in.store.get(sid) is not None
    done = sign_in.handle_route("logout", _request("POST", Verdict(True), sid))
    assert done.status == 302 and sign_in.store.get(sid) is None
