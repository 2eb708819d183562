"""The seam: BearerGuard / SessionGuard.authenticate(Credentials), against the real double.

A request with an ``Authorization`` header is judged by it alone, and its request is never
converted for the cookie; one without is authenticated by its session cookie (SessionGuard
only); a plain sequence of header values still works and carries no cookie. The flow refuses a
cookie-authenticated WebSocket handshake from another origin, whatever the framework.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from cognito_guard import InvalidRequestError
from cognito_guard.bearer import BearerGuard, Credentials
from cognito_guard.sessions import SessionAuthError, SessionGuard, WebRequest, WebSignIn
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer

from .test_sessions_flow import SECRET, Browser, make_sign_in


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture(scope="module")
def oauth(clock: ManualClock) -> Iterator[OAuthServer]:
    with LocalIssuer(clock=clock).serve_oauth(client_secret=SECRET) as server:
        yield server


@pytest.fixture
def browser(oauth: OAuthServer, clock: ManualClock) -> Browser:
    """A browser signed in as alice."""
    signed_in = Browser(make_sign_in(oauth, clock))
    signed_in.sign_in_now()
    return signed_in


class Converter:
    """A converter as adapters pass one: the framework request (here already a WebRequest) in,
    its WebRequest out; it counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: WebRequest) -> WebRequest:
        self.calls += 1
        return request


def guard_of(sign_in: WebSignIn) -> SessionGuard:
    return SessionGuard(sign_in.verifier, sign_in=sign_in)


def test_without_a_header_the_session_guard_authenticates_the_cookie(browser: Browser) -> None:
    guard, convert = guard_of(browser.sign_in), Converter()
    credentials = Credentials((), browser.request("GET", "/api"), convert)
    claims = guard.authenticate(credentials)
    assert claims is not None and claims.username == "alice"
    claims = asyncio.run(guard.aauthenticate(credentials))
    assert claims is not None and claims.username == "alice"
    assert convert.calls == 2  # built when needed, once per call


def test_a_header_is_judged_alone_and_the_request_never_converted(
    browser: Browser, oauth: OAuthServer
) -> None:
    guard, convert = guard_of(browser.sign_in), Converter()
    request = browser.request("GET", "/api")  # alice's cookie
    token = oauth.issuer.access_token(username="bob")
    claims = guard.authenticate(Credentials(["Bearer " + token], request, convert))
    assert claims is not None and claims.username == "bob"
    # A malformed header is the client's choice of credentials: its 400, not the cookie.
    with pytest.raises(InvalidRequestError):
        guard.authenticate(Credentials(["Basic YWxpY2U6cHc="], request, convert))
    with pytest.raises(InvalidRequestError):
        asyncio.run(guard.aauthenticate(Credentials(["Bearer"], request, convert)))
    assert convert.calls == 0


def test_a_plain_sequence_or_credentials_without_a_converter_carry_no_cookie(
    browser: Browser, oauth: OAuthServer
) -> None:
    guard = guard_of(browser.sign_in)
    assert guard.authenticate([]) is None
    assert guard.authenticate(Credentials((), browser.request("GET", "/api"))) is None
    token = oauth.issuer.access_token(username="bob")
    bob = guard.authenticate(["Bearer " + token])
    assert bob is not None and bob.username == "bob"
    bob = asyncio.run(guard.aauthenticate(("Bearer " + token,)))
    assert bob is not None and bob.username == "bob"


def test_a_bearer_guard_never_reads_the_cookie(browser: Browser, oauth: OAuthServer) -> None:
    guard, convert = BearerGuard(browser.sign_in.verifier), Converter()
    request = browser.request("GET", "/api")
    assert guard.authenticate(Credentials((), request, convert)) is None
    token = oauth.issuer.access_token(username="bob")
    bob = asyncio.run(guard.aauthenticate(Credentials(["Bearer " + token], request, convert)))
    assert bob is not None and bob.username == "bob"
    assert convert.calls == 0


@pytest.mark.parametrize(
    "origin", [None, "https://evil.example", "http://app.example.com:8443", "https://[bad"]
)
def test_a_cookie_websocket_handshake_from_another_origin_is_refused(
    browser: Browser, origin: str | None
) -> None:
    guard = guard_of(browser.sign_in)
    headers = {} if origin is None else {"origin": origin}
    handshake = browser.request("GET", "/feed", headers)
    handshake = dataclasses.replace(handshake, websocket=True)
    with pytest.raises(SessionAuthError) as caught:
        guard.authenticate(Credentials((), handshake, Converter()))
    answer = guard.answer(caught.value)
    assert answer.status == 403 and answer.error == "cross_origin_websocket"
    assert ("Cache-Control", "no-store") in answer.headers


def test_a_cookie_websocket_handshake_from_the_app_origin_is_authenticated(
    browser: Browser,
) -> None:
    guard = guard_of(browser.sign_in)
    handshake = browser.request("GET", "/feed", {"origin": "https://app.example.com"})
    handshake = dataclasses.replace(handshake, websocket=True)
    claims = guard.authenticate(Credentials((), handshake, Converter()))
    assert claims is not None and claims.username == "alice"
    # Without a cookie, a handshake from anywhere is simply anonymous (the app decides).
    anonymous = WebRequest("GET", "/feed", headers={"host": "app.example.com"}, websocket=True)
    assert guard.authenticate(Credentials((), anonymous, Converter())) is None
