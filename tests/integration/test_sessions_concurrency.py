"""One refresh per session at a time: many tabs at the moment of expiry, one and two processes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cryptography.fernet import Fernet

from cognito_guard.testing import OAuthServer

from ._sessions_support import (
    DUE_TOKEN_TTL,
    PASSWORD,
    new_oauth,
    serve_app,
    session_cookie,
    sign_in,
    wait_until_due,
)

PARALLEL = 20


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with new_oauth() as server:
        yield server


@pytest.fixture
def fresh(oauth: OAuthServer) -> OAuthServer:
    oauth.reset()
    oauth.token_delay = 0.0
    oauth.access_token_ttl = 3600
    oauth.add_user("alice", password=PASSWORD)
    return oauth


def _due_session(app_url: str, oauth: OAuthServer) -> str:
    """Sign in with an access token that is then due for refresh; the session id."""
    oauth.access_token_ttl = DUE_TOKEN_TTL
    with httpx.Client(timeout=10) as http:
        assert sign_in(http, app_url, oauth).status_code == 302
        sid = session_cookie(http)
    oauth.access_token_ttl = 3600
    wait_until_due()
    # A slow token endpoint: every request of the burst arrives while the refresh is in flight.
    oauth.token_delay = 0.3
    assert sid
    return sid


def _burst(urls: list[str], sid: str) -> list[int]:
    def one(url: str) -> int:
        with httpx.Client(cookies={"cognito_session": sid}, timeout=30) as http:
            return http.get(url + "/me").status_code

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, urls))


@pytest.mark.parametrize("framework", ["flask", "fastapi", "django-asgi"])
def test_twenty_tabs_at_expiry_make_one_refresh(fresh: OAuthServer, framework: str) -> None:
    with serve_app(framework, fresh) as app:
        sid = _due_session(app.url, fresh)
        statuses = _burst([app.url] * PARALLEL, sid)
    assert statuses == [200] * PARALLEL
    assert fresh.grant_counts["refresh_token"] == 1


def test_two_processes_sharing_redis_sessions_make_one_refresh(
    fresh: OAuthServer, fleet_redis_url: str
) -> None:
    shared = {
        "COGNITO_SIGN_IN_REDIS_URL": fleet_redis_url,
        "COGNITO_SIGN_IN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    with serve_app("flask", fresh, **shared) as first, serve_app("fastapi", fresh, **shared) as b:
        sid = _due_session(first.url, fresh)
        urls: list[str] = [first.url, b.url] * (PARALLEL // 2)
        statuses = _burst(urls, sid)
        # the session (and its rotated refresh token) is shared: both keep serving it
        after = _burst([first.url, b.url], sid)
    assert statuses == [200] * PARALLEL and after == [200, 200]
    assert fresh.grant_counts["refresh_token"] == 1


def test_with_process_local_sessions_another_process_does_not_know_the_cookie(
    fresh: OAuthServer,
) -> None:
    # The contrast that makes the Redis test meaningful: MemorySessionStore is per process.
    with serve_app("flask", fresh) as first, serve_app("flask", fresh) as second:
        sid = _due_session(first.url, fresh)
        fresh.token_delay = 0.0
        assert _burst([first.url, second.url], sid) == [200, 401]
