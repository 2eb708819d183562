"""The framework-neutral flow of WebSignIn against the real double, on a manual clock.

Lifetime and idle timeout, the secure cookie on every host unless development cookies are asked
for, logout recording the session in a revocation list and winning over a refresh in flight,
the refresh skew of short-lived tokens, a flood of sign-ins, records copied within Redis, and
that nothing secret reaches the logs. Tests with ``kind`` run on both stores (Redis from the
shared fixture).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet

from cognito_guard import ConfigurationError
from cognito_guard.sessions import (
    MemorySessionStore,
    RedisSessionStore,
    SessionAuthError,
    SessionStore,
    WebRequest,
    WebResponse,
    WebSignIn,
    sign_in_from_env,
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
    options.setdefault("client", oauth.client())
    options.setdefault("redirect_uri", "https://app.example.com/auth/callback")
    options.setdefault("logout_uri", "https://app.example.com/")
    options.setdefault("verifier", issuer.verifier(jwks_uri=oauth.jwks_uri, clock=clock))
    return WebSignIn(clock=clock, **options)


@pytest.fixture
def make_store(
    clock: ManualClock, request: pytest.FixtureRequest
) -> Iterator[Callable[..., SessionStore]]:
    """Makes a memory store, or an encrypted Redis store on the shared (flushed) test Redis."""
    made: list[RedisSessionStore] = []

    def make(kind: str, **options: Any) -> SessionStore:
        if kind == "memory":
            return MemorySessionStore(clock=clock, **options)
        url = request.getfixturevalue("cognito_redis_url")
        store = RedisSessionStore(url, encryption_key=Fernet.generate_key(), clock=clock, **options)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def digest(kind: str, value: str) -> str:
    """How a store names a record: its kind and the SHA-256 of the id."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


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


def cookies_of(*answers: WebResponse) -> list[str]:
    return [header for answer in answers for header in answer.header_values("set-cookie")]


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
    assert (caught.value.status_code, caught.value.error_code) == (401, "session_ended")


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
    assert caught.value.status_code == 401


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


def test_plain_http_to_a_loopback_host_still_gets_secure_host_prefixed_cookies(
    oauth: OAuthServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # What a TLS-terminating proxy forwarding plain http with Host: 127.0.0.1 looks like.
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        sign_in = make_sign_in(oauth, clock)
        browser = Browser(sign_in, host="127.0.0.1", scheme="http")
        login = browser.send("GET", "/auth/login")
        answer = browser.sign_in_now()
    cookies = cookies_of(login, answer)
    assert answer.status == 302 and len(cookies) == 2
    for header in cookies:
        assert header.startswith("__Host-") and "; Secure" in header
    assert browser.authenticate().username == "alice"
    assert not [r for r in caplog.records if "Secure" in r.getMessage()]


def test_insecure_dev_cookies_are_asked_for_and_warned_about_at_construction(
    oauth: OAuthServer, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        sign_in = make_sign_in(
            oauth,
            clock,
            insecure_dev_cookies=True,
            redirect_uri="/auth/callback",
            logout_uri="/",
        )
    warnings = [r for r in caplog.records if "insecure_dev_cookies" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        browser = Browser(sign_in, host="127.0.0.1:8000", scheme="http")
        login = browser.send("GET", "/auth/login")
        answer = browser.sign_in_now()
        assert browser.authenticate().username == "alice"
    assert not caplog.records  # said once, at start-up; never per request
    cookies = cookies_of(login, answer)
    assert len(cookies) == 2
    for header in cookies:
        assert not header.startswith("__Host-") and "Secure" not in header
    assert "cognito_session" in browser.cookies  # the unprefixed development name
    # A real host name still gets the secure cookie, setting or not.
    elsewhere = Browser(sign_in, host="app.example.com", scheme="http").send("GET", "/auth/login")
    assert all(h.startswith("__Host-") and "; Secure" in h for h in cookies_of(elsewhere))


# -- refresh ------------------------------------------------------------------------------------


def test_a_token_shorter_lived_than_the_skew_is_not_refreshed_on_every_request(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    oauth.access_token_ttl = 4  # below the default 60 s refresh skew
    try:
        browser = Browser(make_sign_in(oauth, clock))
        browser.sign_in_now()
        before = oauth.grant_counts["refresh_token"]
        for _ in range(10):  # within the token's first second
            clock.advance(0.1)
            assert browser.authenticate().username == "alice"
        assert oauth.grant_counts["refresh_token"] == before
        clock.advance(1.5)  # past half the token's life: due, refreshed once
        assert browser.authenticate().username == "alice"
        assert browser.authenticate().username == "alice"
        assert oauth.grant_counts["refresh_token"] == before + 1
    finally:
        oauth.access_token_ttl = 3600


class HeldRefresh(httpx.BaseTransport):
    """Talks to the double; holds the answer of a refresh (issued already) until released.

    The refresh has happened at Cognito, but its answer is still on the way to the app.
    """

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.answers: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == "/oauth2/token" and b"grant_type=refresh_token" in request.content:
            self.answers.append(json.loads(response.read()))
            self.arrived.set()
            assert self.release.wait(10)
        return response

    def close(self) -> None:
        pass  # each token request's client closes its transport; this one lives for the test


@pytest.fixture
def held() -> Iterator[HeldRefresh]:
    transport = HeldRefresh()
    yield transport
    transport.release.set()
    transport.inner.close()


def _refresh_during_logout(
    sign_in: WebSignIn, held: HeldRefresh, clock: ManualClock
) -> tuple[Browser, dict[str, str], object]:
    """Sign in, let a refresh reach Cognito, log out while its answer is held, then release it.

    Returns the browser, its cookies from before the logout, and what the refresh request got.
    """
    browser = Browser(sign_in)
    browser.sign_in_now()
    clock.advance(3600)  # the access token is due
    outcome: list[object] = []

    def refresh() -> None:
        try:
            outcome.append(browser.authenticate())
        except SessionAuthError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=refresh)
    thread.start()
    try:
        assert held.arrived.wait(10)
        old = dict(browser.cookies)
        assert browser.send("POST", "/auth/logout", {"x-csrf": "1"}).status == 302
    finally:
        held.release.set()
        thread.join(10)
    return browser, old, outcome[0]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_logout_wins_over_a_refresh_in_flight(
    oauth: OAuthServer,
    clock: ManualClock,
    kind: str,
    make_store: Callable[..., SessionStore],
    held: HeldRefresh,
) -> None:
    store = make_store(kind)
    sign_in = make_sign_in(oauth, clock, store=store, client=oauth.client(transport=held))
    browser, old, refreshing = _refresh_during_logout(sign_in, held, clock)
    assert isinstance(refreshing, SessionAuthError) and refreshing.status_code == 401
    browser.cookies = old  # the cookie from before the logout, replayed
    with pytest.raises(SessionAuthError) as caught:
        browser.authenticate()
    assert (caught.value.status_code, caught.value.error_code) == (401, "session_ended")
    assert store.get(old["__Host-cognito_session"]) is None


def test_a_refresh_token_rotated_for_a_session_ended_meanwhile_is_revoked(
    clock: ManualClock, held: HeldRefresh
) -> None:
    issuer = LocalIssuer(clock=clock)
    with issuer.serve_oauth(client_secret=SECRET, rotate_refresh_tokens=True) as rotating:
        sign_in = make_sign_in(rotating, clock, client=rotating.client(transport=held))
        # Logout cannot reach Cognito: only the refresh's own clean-up revokes the new token.
        rotating.inject_oauth_error("/oauth2/revoke", "internal_error", 500)
        _, _, refreshing = _refresh_during_logout(sign_in, held, clock)
        assert isinstance(refreshing, SessionAuthError)
        assert rotating.is_revoked(held.answers[0]["refresh_token"])


# -- many sign-ins --------------------------------------------------------------------------------


def pending_logins(store: SessionStore) -> int:
    if isinstance(store, RedisSessionStore):
        return int(store.connection.sync.zcard("cognito_guard:{logins}:expiries"))
    return len(store)  # type: ignore[arg-type]  # no sessions in these tests: only states


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_flood_of_sign_ins_stays_capped_and_a_sign_in_after_it_completes(
    oauth: OAuthServer, clock: ManualClock, kind: str, make_store: Callable[..., SessionStore]
) -> None:
    store = make_store(kind, max_pending_logins=50)
    sign_in = make_sign_in(oauth, clock, store=store)
    early = Browser(sign_in)
    early_code = httpx.get(dict(early.send("GET", "/auth/login").headers)["Location"])
    for _ in range(500):  # anonymous requests keeping no cookie: a new state each
        assert Browser(sign_in).send("GET", "/auth/login").status == 302
    assert pending_logins(store) == 50
    if isinstance(store, RedisSessionStore):
        assert store.connection.sync.hlen("cognito_guard:{logins}:states") == 50
    # The oldest states went first: the one started before the flood is gone...
    callback = "/auth/callback?" + urlsplit(early_code.headers["location"]).query
    assert early.send("GET", callback).status == 400
    # ... and a sign-in started now completes.
    late = Browser(sign_in)
    answer = late.sign_in_now()
    assert answer.status == 302 and late.authenticate().username == "alice"


# -- records copied within Redis ------------------------------------------------------------------


def test_a_session_copied_onto_another_key_in_redis_is_refused(
    oauth: OAuthServer,
    clock: ManualClock,
    make_store: Callable[..., SessionStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = make_store("redis")
    assert isinstance(store, RedisSessionStore)
    sign_in = make_sign_in(oauth, clock, store=store)
    victim, attacker = Browser(sign_in), Browser(sign_in)
    victim.sign_in_now()
    oauth.signed_in_user = "mallory"
    try:
        attacker.sign_in_now()
    finally:
        oauth.signed_in_user = "alice"
    assert attacker.authenticate().username == "mallory"
    victim_sid = victim.cookies["__Host-cognito_session"]
    attacker_sid = attacker.cookies["__Host-cognito_session"]
    # Write access to Redis, no encryption key: the victim's value onto the attacker's key.
    raw = store.connection.sync
    stolen = raw.get("cognito_guard:" + digest("session", victim_sid))
    assert isinstance(stolen, bytes)
    raw.set("cognito_guard:" + digest("session", attacker_sid), stolen)
    clock.advance(3600)  # due: the server would refresh the victim's tokens for the attacker
    refreshes = oauth.grant_counts["refresh_token"]
    with (
        caplog.at_level(logging.DEBUG, logger="cognito_guard"),
        pytest.raises(SessionAuthError) as caught,
    ):
        attacker.authenticate()
    assert (caught.value.status_code, caught.value.error_code) == (401, "session_ended")
    assert oauth.grant_counts["refresh_token"] == refreshes
    refused = [r for r in caplog.records if "sealed for another key" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    for secret in (victim_sid, attacker_sid, stolen.decode()):
        assert secret not in caplog.text
    assert victim.authenticate().username == "alice"  # the victim is still signed in


def test_a_sign_in_state_copied_onto_another_state_in_redis_is_refused(
    oauth: OAuthServer,
    clock: ManualClock,
    make_store: Callable[..., SessionStore],
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = make_store("redis")
    assert isinstance(store, RedisSessionStore)
    sign_in = make_sign_in(oauth, clock, store=store)
    victim, attacker = Browser(sign_in), Browser(sign_in)
    victim_login = victim.send("GET", "/auth/login")
    attacker_login = attacker.send("GET", "/auth/login")
    victim_state = query_of(dict(victim_login.headers)["Location"])["state"]
    code_redirect = httpx.get(dict(attacker_login.headers)["Location"]).headers["location"]
    attacker_state = query_of(code_redirect)["state"]
    states = "cognito_guard:{logins}:states"
    raw = store.connection.sync
    stolen = raw.hget(states, digest("login", victim_state))
    assert stolen is not None
    raw.hset(states, digest("login", attacker_state), stolen)
    with caplog.at_level(logging.WARNING, logger="cognito_guard"):
        answer = attacker.send("GET", "/auth/callback?" + urlsplit(code_redirect).query)
    assert answer.status == 400 and b"unknown" in answer.body
    assert [r for r in caplog.records if "sealed for another key" in r.getMessage()]
    assert victim_state not in caplog.text and attacker_state not in caplog.text


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


# -- resource indicators (RFC 8707) ---------------------------------------------------------------

API = "https://api.example.com"


def test_a_sign_in_with_a_resource_gets_tokens_for_it(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    # The API's verifier demands the resource as aud.
    verifier = oauth.issuer.verifier(jwks_uri=oauth.jwks_uri, clock=clock, audience=API)
    browser = Browser(make_sign_in(oauth, clock, verifier=verifier, resource=API))
    login = browser.send("GET", "/auth/login")
    assert query_of(dict(login.headers)["Location"])["resource"] == API
    assert browser.sign_in_now().status == 302
    claims = browser.authenticate()
    assert claims is not None and claims["aud"] == API


def test_a_sign_in_without_the_resource_is_refused_by_an_audience_verifier(
    oauth: OAuthServer, clock: ManualClock
) -> None:
    verifier = oauth.issuer.verifier(jwks_uri=oauth.jwks_uri, clock=clock, audience=API)
    answer = Browser(make_sign_in(oauth, clock, verifier=verifier)).sign_in_now()
    assert answer.status == 400
    assert b"The tokens of this sign-in were rejected." in answer.body


def test_a_resource_the_verifier_refuses_is_refused_at_construction(oauth: OAuthServer) -> None:
    verifier = oauth.issuer.verifier(audience=API)
    with pytest.raises(ConfigurationError, match="not one of the verifier's audiences"):
        WebSignIn(
            client=oauth.client(),
            verifier=verifier,
            redirect_uri="/auth/callback",
            store=MemorySessionStore(),
            resource="https://other.example.com",
        )
    with pytest.raises(ConfigurationError, match="one URL string"):
        WebSignIn(
            client=oauth.client(),
            verifier=verifier,
            redirect_uri="/auth/callback",
            store=MemorySessionStore(),
            resource=[API],  # type: ignore[arg-type]
        )


def test_the_resource_comes_from_cognito_sign_in_resource(oauth: OAuthServer) -> None:
    environ = {
        "COGNITO_SIGN_IN_DOMAIN": oauth.domain,
        "COGNITO_CLIENT_ID": oauth.client_id,
        "COGNITO_SIGN_IN_RESOURCE": API,
    }
    sign_in = sign_in_from_env(oauth.issuer.verifier(audience=API), environ)
    assert sign_in is not None and sign_in.resource == API
    del environ["COGNITO_SIGN_IN_RESOURCE"]
    without = sign_in_from_env(oauth.issuer.verifier(audience=API), environ)
    assert without is not None and without.resource is None
