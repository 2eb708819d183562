"""Unit tests of the web sign-in rules: cookies, return_to, stores, the encryption rule."""

from __future__ import annotations

import threading
import time

import pytest

from cognito_guard.errors import ConfigurationError
from cognito_guard.sessions import (
    CookieRules,
    MemorySessionStore,
    RedisSessionStore,
    SessionStoreUnavailable,
    WebRequest,
    WebSignIn,
    safe_return_to,
)
from cognito_guard.testing import LocalIssuer, ManualClock


def _request(host: str, scheme: str = "https", **cookies: str) -> WebRequest:
    return WebRequest("GET", "/", {}, {"host": host}, cookies, scheme)


# -- cookies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["app.example.com", "app.example.com:8443", "10.0.0.5"])
def test_the_session_cookie_is_host_prefixed_secure_httponly_lax_elsewhere(host: str) -> None:
    rules = CookieRules()
    for scheme in ("https", "http"):  # http to a real host name: still Secure (a proxy's TLS)
        cookie = rules.set(_request(host, scheme), "abc", 3600)
        parts = cookie.split("; ")
        assert parts[0] == "__Host-cognito_session=abc"
        assert {"Path=/", "HttpOnly", "Secure", "SameSite=Lax", "Max-Age=3600"} <= set(parts)
        assert not any(p.lower().startswith("domain=") for p in parts)


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:5000", "[::1]:8000"])
def test_plain_http_on_loopback_keeps_secure_and_the_prefix_by_default(host: str) -> None:
    # What a TLS-terminating proxy forwarding with Host: 127.0.0.1 looks like.
    cookie = CookieRules().set(_request(host, "http"), "abc", 60)
    assert cookie.startswith("__Host-cognito_session=abc;") and "; Secure" in cookie
    same_site_none = CookieRules(same_site="None").set(_request(host, "http"), "abc", 60)
    assert "SameSite=None" in same_site_none and "; Secure" in same_site_none


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:5000", "[::1]:8000"])
def test_insecure_dev_cookies_drop_secure_and_the_prefix_on_plain_http_loopback(
    host: str,
) -> None:
    cookie = CookieRules(insecure_dev_cookies=True).set(_request(host, "http"), "abc", 60)
    assert cookie.startswith("cognito_session=abc;")
    assert "Secure" not in cookie and "HttpOnly" in cookie and "Path=/" in cookie


@pytest.mark.parametrize(
    ("host", "scheme"),
    [("127.0.0.1", "https"), ("app.example.com", "http"), ("10.0.0.5:8000", "http")],
)
def test_insecure_dev_cookies_keep_secure_anywhere_else(host: str, scheme: str) -> None:
    cookie = CookieRules(insecure_dev_cookies=True).set(_request(host, scheme), "x", 1)
    assert cookie.startswith("__Host-") and "; Secure" in cookie


def test_a_prefixed_cookie_is_read_only_under_its_prefixed_name() -> None:
    rules = CookieRules()
    assert rules.read(_request("app.example.com", **{"cognito_session": "forged"})) is None
    assert rules.read(_request("app.example.com", **{"__Host-cognito_session": "s"})) == "s"


def test_clearing_sets_max_age_zero() -> None:
    assert "Max-Age=0" in CookieRules().clear(_request("app.example.com"))


def test_bad_cookie_rules_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        CookieRules(same_site="lax")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        CookieRules(name_base="a;b")
    with pytest.raises(ConfigurationError):
        CookieRules(insecure_dev_cookies="yes")  # type: ignore[arg-type]


# -- return_to --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["/", "/orders?x=1", "/a/b#frag", "/search?q=a%20b"])
def test_same_origin_paths_are_kept(value: str) -> None:
    assert safe_return_to(value) == value


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://evil.example",
        "//evil.example",
        "/\\evil",
        "/a\\b",
        "\\\\evil",
        "/\x00x",
        "/a\nb",
        "/a\tb",
        "javascript:alert(1)",
        "orders",
        "/é",
        "///evil.example",
    ],
)
def test_anything_else_falls_back_to_the_root(value: str | None) -> None:
    assert safe_return_to(value) == "/"


# -- stores -----------------------------------------------------------------------------------


def _stores(redis_url: str | None) -> list[object]:
    return [MemorySessionStore()] + (
        [RedisSessionStore(redis_url, encryption_key=None, allow_plaintext=True)]
        if redis_url
        else []
    )


def test_memory_store_expires_records_and_takes_login_states_once() -> None:
    clock = ManualClock(1000.0)
    store = MemorySessionStore(clock=clock)
    store.put("sid", {"a": 1}, 10)
    store.put_login("state", {"v": 1}, 5)
    got = store.get("sid")
    assert got == {"a": 1}
    got["a"] = 2  # a copy: the stored record does not change
    assert store.get("sid") == {"a": 1}
    assert store.take_login("state") == {"v": 1}
    assert store.take_login("state") is None
    clock.advance(11)
    assert store.get("sid") is None and len(store) == 0


def test_a_write_removes_a_bounded_number_of_expired_records() -> None:
    from cognito_guard.sessions.stores import SWEEP_STEP

    clock = ManualClock(1000.0)
    store = MemorySessionStore(clock=clock)
    for n in range(1000):
        store.put(f"sid{n}", {"n": n}, 10)
        store.put_login(f"state{n}", {"n": n}, 10)
    clock.advance(11)  # all 2000 records expired at once

    def held() -> int:  # records still in memory, expired or not
        return len(store._sessions) + len(store._logins)

    store.put("new", {}, 10)
    assert 2000 - (held() - 1) <= 2 * SWEEP_STEP  # not a sweep of the whole store
    store.put_login("new", {}, 10)
    assert 2000 - (held() - 2) <= 4 * SWEEP_STEP
    for n in range(1000 // SWEEP_STEP):  # and every write does its share
        store.put_login(f"later{n}", {}, 10)
    assert len(store._sessions) == 1 and len(store) == held() == 2 + 1000 // SWEEP_STEP


def test_rewriting_sessions_keeps_the_expiry_index_proportionate() -> None:
    store = MemorySessionStore(clock=ManualClock(1000.0))
    for n in range(5000):  # one session refreshed and touched over and over
        store.put("sid", {"n": n}, 3600)
    assert len(store._expiries) <= 2 * len(store._sessions) + 64
    assert store.get("sid") == {"n": 4999}


def test_replace_writes_only_over_a_session_that_still_exists() -> None:
    clock = ManualClock(1000.0)
    store = MemorySessionStore(clock=clock)
    assert store.replace("sid", {"a": 1}, 10) is False and store.get("sid") is None
    store.put("sid", {"a": 1}, 10)
    assert store.replace("sid", {"a": 2}, 10) is True and store.get("sid") == {"a": 2}
    store.delete("sid")
    assert store.replace("sid", {"a": 3}, 10) is False and store.get("sid") is None
    store.put("sid", {"a": 1}, 10)
    clock.advance(11)
    assert store.replace("sid", {"a": 4}, 10) is False and store.get("sid") is None


def test_redis_store_round_trips_encrypted_and_takes_login_states_once(
    cognito_redis_url: str,
) -> None:
    from cryptography.fernet import Fernet

    store = RedisSessionStore(cognito_redis_url, encryption_key=Fernet.generate_key())
    store.put("sid", {"tokens": {"refresh_token": "rt-secret-value"}}, 30)
    assert store.get("sid") == {"tokens": {"refresh_token": "rt-secret-value"}}
    raw = store.connection.sync
    keys = raw.keys("cognito_guard:*")
    assert len(keys) == 1 and b"sid" not in keys[0]  # the key is a digest of the id
    assert b"rt-secret-value" not in raw.get(keys[0])  # the value is encrypted
    other = RedisSessionStore(cognito_redis_url, encryption_key=Fernet.generate_key())
    assert other.get("sid") is None  # another key cannot read it
    store.put_login("state", {"v": 1}, 30)
    assert store.take_login("state") == {"v": 1}
    assert store.take_login("state") is None
    assert store.replace("sid", {"a": 1}, 30) is True and store.get("sid") == {"a": 1}
    store.delete("sid")
    assert store.get("sid") is None
    assert store.replace("sid", {"a": 2}, 30) is False and store.get("sid") is None


def test_redis_store_expires_login_states_by_its_clock_and_caps_them(
    cognito_redis_url: str,
) -> None:
    from cryptography.fernet import Fernet

    clock = ManualClock(1000.0)
    store = RedisSessionStore(
        cognito_redis_url, encryption_key=Fernet.generate_key(), clock=clock, max_pending_logins=3
    )
    try:
        store.put_login("old", {"v": 1}, 5)
        clock.advance(6)
        assert store.take_login("old") is None  # expired, and gone
        for n in range(5):
            store.put_login(f"s{n}", {"v": n}, 300)
            clock.advance(0.01)  # in order of expiry
        raw = store.connection.sync
        assert raw.zcard("cognito_guard:{logins}:expiries") == 3
        assert raw.hlen("cognito_guard:{logins}:states") == 3
        assert 0 < raw.pttl("cognito_guard:{logins}:states") <= 300_000  # gone when idle
        assert store.take_login("s0") is None and store.take_login("s1") is None  # oldest first
        assert [store.take_login(f"s{n}") for n in (2, 3, 4)] == [{"v": 2}, {"v": 3}, {"v": 4}]
    finally:
        store.close()


def test_redis_store_drops_the_oldest_sign_in_first_within_one_millisecond(
    cognito_redis_url: str,
) -> None:
    import hashlib

    clock = ManualClock(1000.0)  # never advanced: every state expires in the same millisecond
    store = RedisSessionStore(
        cognito_redis_url,
        encryption_key=None,
        allow_plaintext=True,
        clock=clock,
        max_pending_logins=3,
    )
    # The first state has the greatest digest: a tie broken by identity would keep it.
    states = sorted((f"s{n}" for n in range(40)), key=lambda s: hashlib.sha256(s.encode()).digest())
    first, *rest = [states[-1], *states[:4]]
    try:
        for state in (first, *rest):
            store.put_login(state, {"state": state}, 300)
        assert store.take_login(first) is None and store.take_login(rest[0]) is None
        assert [store.take_login(s) for s in rest[1:]] == [{"state": s} for s in rest[1:]]
    finally:
        store.close()


def test_redis_store_needs_a_key_unless_plaintext_is_allowed() -> None:
    with pytest.raises(ConfigurationError, match=r"Fernet\.generate_key"):
        RedisSessionStore("redis://127.0.0.1:6379/0", encryption_key=None)
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        RedisSessionStore("redis://127.0.0.1:6379/0", encryption_key="short")
    with pytest.raises(ConfigurationError):
        RedisSessionStore("http://127.0.0.1:6379/0", encryption_key=None, allow_plaintext=True)


def test_an_unreachable_redis_is_store_unavailable_and_hides_the_password() -> None:
    store = RedisSessionStore(
        "redis://:hunter2@127.0.0.1:1/0", encryption_key=None, allow_plaintext=True, timeout=0.2
    )
    with pytest.raises(SessionStoreUnavailable) as caught:
        store.get("sid")
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(store)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_the_refresh_lock_admits_one_holder_at_a_time(
    kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "memory":
        store: object = MemorySessionStore()
    else:
        url = request.getfixturevalue("cognito_redis_url")
        store = RedisSessionStore(url, encryption_key=None, allow_plaintext=True)
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        with store.lock("sid", 5, 5):  # type: ignore[attr-defined]
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_held_lock_makes_a_waiter_give_up_with_store_unavailable(
    kind: str, request: pytest.FixtureRequest
) -> None:
    if kind == "memory":
        store: object = MemorySessionStore()
    else:
        url = request.getfixturevalue("cognito_redis_url")
        store = RedisSessionStore(url, encryption_key=None, allow_plaintext=True)
    with store.lock("sid", 5, 1):  # type: ignore[attr-defined]
        result: list[BaseException] = []

        def wait() -> None:
            try:
                with store.lock("sid", 5, 0.05):  # type: ignore[attr-defined]
                    pass
            except SessionStoreUnavailable as exc:
                result.append(exc)

        thread = threading.Thread(target=wait)
        thread.start()
        thread.join()
    assert len(result) == 1 and isinstance(result[0], SessionStoreUnavailable)


def test_a_redis_lease_runs_out_and_release_never_frees_another_owners_lock(
    cognito_redis_url: str,
) -> None:
    store = RedisSessionStore(cognito_redis_url, encryption_key=None, allow_plaintext=True)
    first = store.lock("sid", 0.05, 1)
    first.__enter__()
    time.sleep(0.1)  # the lease ran out: another process may take the lock now
    second = store.lock("sid", 5, 1)
    second.__enter__()
    first.__exit__(None, None, None)  # the first holder finishes late: it must not free it
    assert store.connection.sync.keys("cognito_guard:lock:*")
    with pytest.raises(SessionStoreUnavailable), store.lock("sid", 5, 0.02):
        pass
    second.__exit__(None, None, None)
    with store.lock("sid", 5, 0.02):
        pass


# -- configuration ----------------------------------------------------------------------------


def test_web_sign_in_refuses_bad_configuration() -> None:
    from cognito_guard.client import CognitoTokenClient

    issuer = LocalIssuer()
    verifier = issuer.verifier()
    client = CognitoTokenClient(issuer.client_id, domain="https://auth.example.com")
    good = {
        "client": client,
        "verifier": verifier,
        "redirect_uri": "https://app.example.com/auth/callback",
        "store": MemorySessionStore(),
    }
    WebSignIn(**good)  # type: ignore[arg-type]
    bad: list[dict[str, object]] = [
        {"client": CognitoTokenClient(issuer.client_id, region="eu-west-1")},
        {"redirect_uri": "http://app.example.com/auth/callback"},
        {"scopes": ["email"]},
        {"store": object()},
        {"revocations": object()},
        {"prefix": "auth"},
        {"session_lifetime": 0},
        {"idle_timeout": -1},
        {"logout_uri": "javascript:alert(1)"},
        {"verifier": issuer.verifier(token_use="id")},
        {"insecure_dev_cookies": "yes"},
        # development cookies with a production callback: a setting left on by mistake
        {"insecure_dev_cookies": True},
    ]
    for change in bad:
        with pytest.raises(ConfigurationError):
            WebSignIn(**{**good, **change})  # type: ignore[arg-type]
    for cap in (0, -1, 1.5, True):
        with pytest.raises(ConfigurationError, match="max_pending_logins"):
            MemorySessionStore(max_pending_logins=cap)  # type: ignore[arg-type]


def test_session_guard_takes_only_a_web_sign_in_and_keeps_its_import_paths() -> None:
    from cognito_guard.sessions import SessionGuard, guard, signin

    # Defined in sessions.guard, and importable from sessions.signin too: the same class.
    assert signin.SessionGuard is guard.SessionGuard is SessionGuard
    verifier = LocalIssuer().verifier()
    for wrong in (object(), "sign_in", verifier):
        with pytest.raises(ConfigurationError, match="sign_in must be a WebSignIn"):
            SessionGuard(verifier, sign_in=wrong)  # type: ignore[arg-type]


def test_sign_in_from_env_reads_numbers_and_refuses_what_is_not_one() -> None:
    from cognito_guard.sessions import sign_in_from_env

    verifier = LocalIssuer().verifier()
    env = {
        "COGNITO_SIGN_IN_DOMAIN": "https://auth.example.com",
        "COGNITO_SIGN_IN_CLIENT_ID": "client",
        "COGNITO_SIGN_IN_REFRESH_SKEW": " 30 ",
        "COGNITO_SIGN_IN_IDLE_TIMEOUT": "",  # blank: the default
        "COGNITO_SIGN_IN_MAX_PENDING_LOGINS": "7",
    }
    sign_in = sign_in_from_env(verifier, env)
    assert sign_in is not None
    assert (sign_in.refresh_skew, sign_in.idle_timeout) == (30.0, None)
    assert sign_in.store.max_pending_logins == 7  # type: ignore[attr-defined]
    for name, value, message in (
        ("REFRESH_SKEW", "soon", "COGNITO_SIGN_IN_REFRESH_SKEW must be a number of seconds"),
        ("MAX_PENDING_LOGINS", "7.5", "COGNITO_SIGN_IN_MAX_PENDING_LOGINS must be a whole number"),
    ):
        with pytest.raises(ConfigurationError, match=message):
            sign_in_from_env(verifier, {**env, f"COGNITO_SIGN_IN_{name}": value})


def test_guard_for_gives_a_session_guard_only_with_a_sign_in() -> None:
    from cognito_guard.bearer import BearerGuard
    from cognito_guard.client import CognitoTokenClient
    from cognito_guard.sessions import SessionGuard, signin

    issuer = LocalIssuer()
    verifier = issuer.verifier()
    plain = signin.guard_for(verifier, None, realm="orders")
    assert type(plain) is BearerGuard and plain.realm == "orders"
    sign_in = WebSignIn(
        client=CognitoTokenClient(issuer.client_id, domain="https://auth.example.com"),
        verifier=verifier,
        redirect_uri="https://app.example.com/auth/callback",
        store=MemorySessionStore(),
    )
    guard = signin.guard_for(verifier, sign_in, realm="orders")
    assert isinstance(guard, SessionGuard) and guard.sign_in is sign_in
    with pytest.raises(ConfigurationError, match="sign_in must be a WebSignIn"):
        signin.guard_for(verifier, object())  # type: ignore[arg-type]
