"""The framework-neutral flow of WebSignIn against the real double, on a manual clock.

Lifetime and idle timeout, the secure cookie on a real host name, the dev-host warning, logout
recording the session in a revocation list, and that nothing secret reaches the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cognito_guard.sessions import (
    MemorySessionStore,
    SessionAuthError,
    WebRequest,
    WebResponse,
    WebSignIn,
)
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer

from ._sessions_support import query_of

SECRET = "flow-client-secret-value"


class Revocations:
    """A revocation list as far as WebSignIn knows one: revoke_session(origin_jti)."""

    def __init__(self) -> None:
        self.sessions: list[str] = []

    def revoke_session(self, origin_jti: str) -> None:
        self.sessions.append(origin_jti)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture(scope="module")
def oauth(clock: ManualClock) -> Iterator[OAuthServer]:
    # auto sign-in (no user with a password): /oauth2/authorize answers with a code at once
    with LocalIssuer(clock=clock).serve_oauth(client_secret=SECRET) as server:
        yield server


def make_sign_in(oauth: OAuthServer, clock: ManualClock, **options: Any) -> WebSignIn:
    issuer = oauth.issuer
    options.setdefault("store", MemorySessionStore(clock=clock))
    return WebSignIn(
        client=oauth.client(),
        verifier=issuer.verifier(jwks_uri=oauth.jwks_uri, clock=clock),
        redirect_uri="https://app.example.com/auth/callback",
        logout_uri="https://app.example.com/",
        clock=clock,
        **options,
    )


class Browser:
    """Plays a browser against WebSignIn's neutral interface (one host, a cookie jar)."""

    def __init__(self, sign_in: WebSignIn, host: str = "app.example.com", scheme: str = "https"):
        self.sign_in, self.host, self.scheme = sign_in, host, scheme
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, headers: dict[str, str] | None = None) -> WebRequest:
        parts = urlsplit(url)
        return WebRequest(
            method,
            parts.path,
            query_of(url),
            {"host": self.host, **(headers or {})},
            dict(self.cookies),
            self.scheme,
        )

    def send(self, method: str, url: str, headers: dict[str, str] | None = None) -> WebResponse:
        answer = self.sign_in.handle(self.request(method, url, headers))
        assert answer is not None
        self.keep(answer)
        return answer

    def keep(self, answer: WebResponse) -> None:
        for header in answer.header_values("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";")[0]
            if "Max-Age=0" in header:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def sign_in_now(self) -> WebResponse:
        login = self.send("GET", "/auth/login?return_to=/orders")
        location = dict(login.headers)["Location"]
        authorize = httpx.get(location)  # the double signs the user in at once
        callback = authorize.headers["location"]
        return self.send("GET", "/auth/callback?" + urlsplit(callback).query)

    def authenticate(self, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
        return self.sign_in.authenticate(self.request(method, "/api", headers))


def test_on_a_real_host_the_cookies_are_host_prefixed_and_secure(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    browser = Browser(make_sign_in(oauth, clock))
    login = browser.send("GET", "/auth/login")
    answer = browser.sign_in_now()
    assert answer.status == 302 and dict(answer.headers)["Location"] == "/orders"
    for header in (*login.header_values("set-cookie"), *answer.header_values("set-cookie")):
        assert header.startswith("__Host-") and "; Secure" in header and "; HttpOnly" in header
        assert "Path=/" in header and "SameSite=Lax" in header and "Domain" not in header
    assert browser.authenticate().username == "alice"


def test_a_session_ends_after_its_lifetime(oauth: OAuthServer, clock: ManualClock) -> None:
    browser = Browser(make_sign_in(oauth, clock, session_lifetime=7200))
    browser.sign_in_now()
    clock.advance(3000)  # the access token is refreshed on the way
    assert browser.authenticate().username == "alice"
    clock.advance(4300)
    with pytest.raises(SessionAuthError) as caught:
        browser.authenticate()
    assert caught.value.answer.status == 401 and caught.value.answer.error == "session_ended"


def test_a_session_ends_after_the_idle_timeout_and_activity_extends_it(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    browser = Browser(make_sign_in(oauth, clock, idle_timeout=600))
    browser.sign_in_now()
    for _ in range(3):  # 1500 s in all, never 600 s idle
        clock.advance(500)
        assert browser.authenticate() is not None
    clock.advance(601)
    with pytest.raises(SessionAuthError) as caught:
        browser.authenticate()
    assert caught.value.answer.status == 401


def test_an_expired_login_state_is_refused(oauth: OAuthServer, clock: ManualClock) -> None:
    browser = Browser(make_sign_in(oauth, clock))
    login = browser.send("GET", "/auth/login")
    callback = httpx.get(dict(login.headers)["Location"]).headers["location"]
    clock.advance(301)  # the 5 minutes are over
    answer = browser.send("GET", "/auth/callback?" + urlsplit(callback).query)
    assert answer.status == 400 and b"expired" in answer.body


def test_logout_records_the_session_in_the_revocation_list(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    revocations = Revocations()
    browser = Browser(make_sign_in(oauth, clock, revocations=revocations))
    browser.sign_in_now()
    origin = browser.authenticate().origin_jti
    answer = browser.send("POST", "/auth/logout", {"x-csrf": "1"})
    assert answer.status == 302 and revocations.sessions == [origin]


def test_the_dev_host_warning_is_logged_once(
    oauth: OAuthServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    browser = Browser(make_sign_in(oauth, clock), host="127.0.0.1:8000", scheme="http")
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        browser.sign_in_now()
        browser.send("GET", "/auth/user")
    warnings = [r for r in caplog.records if "without Secure" in r.getMessage()]
    assert len(warnings) == 1
    assert "cognito_session" in browser.cookies  # the unprefixed development name


def test_nothing_secret_reaches_the_logs_pages_or_redirects(
    oauth: OAuthServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    store = MemorySessionStore(clock=clock)
    sign_in = make_sign_in(oauth, clock, store=store)
    browser = Browser(sign_in)
    oauth.inject_oauth_error("/oauth2/revoke", "invalid_request")  # logout logs a warning
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="cognito_guard"):
        login = browser.send("GET", "/auth/login")
        code_redirect = httpx.get(dict(login.headers)["Location"]).headers["location"]
        code = query_of(code_redirect)["code"]
        callback = browser.send("GET", "/auth/callback?" + urlsplit(code_redirect).query)
        sid = browser.cookies["__Host-cognito_session"]
        record = store.get(sid)
        assert record is not None
        replay = browser.send("GET", "/auth/callback?" + urlsplit(code_redirect).query)
        clock.advance(3600)  # refresh on the way
        browser.authenticate()
        refreshed = store.get(sid)
        assert refreshed is not None
        logout = browser.send("POST", "/auth/logout", {"x-csrf": "1"})
    for answer in (login, callback, replay, logout):
        seen.append(answer.body.decode())
        seen.extend(value for name, value in answer.headers if name.lower() == "location")
    text = "\n".join([*seen, caplog.text])
    tokens = [*record["tokens"].values(), *refreshed["tokens"].values()]
    secrets = [
        t for t in tokens if isinstance(t, str) and len(t) > 20 and not t.startswith("Bearer")
    ]
    for secret in [*secrets, code, SECRET, sid]:
        assert secret not in text
    assert caplog.records  # the flow did log
