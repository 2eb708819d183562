"""ClientCredentialsAuth and RefreshTokenAuth over real loopback HTTP.

A protected API (``/orders``) and the OAuthServer test double run on 127.0.0.1; expiry is driven
by a pinned clock, never by waiting.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from cognito_guard.client import (
    ClientCredentialsAuth,
    CognitoTokenClient,
    OAuthError,
    RefreshTokenAuth,
    TokenSet,
)
from cognito_guard.errors import ConfigurationError
from cognito_guard.testing import LocalIssuer, ManualClock, OAuthServer

from ._oauth_support import SECRET, ProtectedAPI, send

TOKEN = "/oauth2/token"
# One connection per concurrent request: the single flight under test happens in the auth flow,
# before a connection is taken. (Queueing many threads on a few pooled connections to
# http.server sporadically fails with EBADF/ReadTimeout, with or without cognito_guard.)
LIMITS = httpx.Limits(max_connections=200)


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def running(issuer: LocalIssuer) -> Iterator[tuple[OAuthServer, OAuthServer, ProtectedAPI]]:
    with (
        issuer.serve_oauth(client_secret=SECRET) as plain,
        issuer.serve_oauth(client_secret=SECRET, rotate_refresh_tokens=True) as rotating,
        ProtectedAPI(issuer) as api,
    ):
        yield plain, rotating, api  # type: ignore[misc]


@pytest.fixture
def api(running: tuple[OAuthServer, OAuthServer, ProtectedAPI]) -> ProtectedAPI:
    api = running[2]
    api.rejected.clear()
    api.always_401 = False
    api.seen.clear()
    with api._count_lock:
        api.requests.clear()
    return api


@pytest.fixture
def server(running: tuple[OAuthServer, OAuthServer, ProtectedAPI]) -> OAuthServer:
    running[0].reset()
    return running[0]


@pytest.fixture
def rotating(running: tuple[OAuthServer, OAuthServer, ProtectedAPI]) -> OAuthServer:
    running[1].reset()
    return running[1]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())  # the test issuer mints tokens on the real clock


def many_threads(auth: httpx.Auth, url: str, count: int) -> list[int]:
    """``count`` requests from ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)
    with httpx.Client(auth=auth, limits=LIMITS) as http:

        def one(_: int) -> int:
            barrier.wait()
            return http.get(url).status_code

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, range(count)))


async def many_coroutines(auth: httpx.Auth, url: str, count: int) -> list[int]:
    async with httpx.AsyncClient(auth=auth, limits=LIMITS) as http:
        responses = await asyncio.gather(*(http.get(url) for _ in range(count)))
    return [r.status_code for r in responses]


# -- ClientCredentialsAuth -----------------------------------------------------------------------


def test_200_threads_share_one_token_request(
    server: OAuthServer, api: ProtectedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "token_delay", 0.2)  # keep the fetch in flight while all arrive
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    statuses = many_threads(auth, api.orders_url, 200)
    assert statuses == [200] * 200
    assert server.request_count(TOKEN) == 1
    assert len(set(api.seen)) == 1


@pytest.mark.anyio
async def test_200_coroutines_share_one_token_request(
    server: OAuthServer, api: ProtectedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "token_delay", 0.2)
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    statuses = await many_coroutines(auth, api.orders_url, 200)
    assert statuses == [200] * 200
    assert server.request_count(TOKEN) == 1
    assert len(set(api.seen)) == 1


def test_event_loops_of_many_threads_share_one_token_request(
    server: OAuthServer, api: ProtectedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flask and asgiref run async views on a loop per request: still one billed token."""
    monkeypatch.setattr(server, "token_delay", 0.2)
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    barrier = threading.Barrier(8)

    def on_own_loop(_: int) -> list[int]:
        barrier.wait()
        return asyncio.run(many_coroutines(auth, api.orders_url, 5))

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for batch in pool.map(on_own_loop, range(8)) for status in batch]
    assert statuses == [200] * 40
    assert server.request_count(TOKEN) == 1
    assert len(set(api.seen)) == 1


def test_the_token_is_reused_until_refresh_skew_before_expiry(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    auth = ClientCredentialsAuth(
        server.client(clock=clock), scopes=["orders/read"], refresh_skew=60
    )
    assert send(mode, auth, api.orders_url).status_code == 200
    clock.advance(3600 - 61)  # 61 s left: still outside the skew
    assert send(mode, auth, api.orders_url).status_code == 200
    assert server.request_count(TOKEN) == 1
    clock.advance(1)  # 60 s left: inside the skew
    assert send(mode, auth, api.orders_url).status_code == 200
    assert server.request_count(TOKEN) == 2
    assert api.seen[0] == api.seen[1] != api.seen[2]


def test_auths_of_one_client_and_the_same_scopes_share_the_token(
    server: OAuthServer, api: ProtectedAPI, mode: str
) -> None:
    client = server.client()
    first = ClientCredentialsAuth(client, scopes=["orders/read", "orders/write"])
    second = ClientCredentialsAuth(client, scopes=["orders/write", "orders/read"])
    other = ClientCredentialsAuth(client, scopes=["orders/read"])
    for auth in (first, second, other):
        assert send(mode, auth, api.orders_url).status_code == 200
    assert server.request_count(TOKEN) == 2
    assert first.tokens is second.tokens is not other.tokens


def test_a_401_fetches_a_new_token_once_and_replays_the_request(
    server: OAuthServer, api: ProtectedAPI, mode: str
) -> None:
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    assert send(mode, auth, api.orders_url).status_code == 200
    revoked = api.seen[0]
    api.rejected.add(revoked)  # e.g. the API revoked it server-side
    response = send(mode, auth, api.orders_url, "POST", b'{"item": 42}')
    assert response.status_code == 200
    assert response.json()["body"] == '{"item": 42}'  # the body was sent again, intact
    assert server.request_count(TOKEN) == 2
    assert api.seen[1:] == [revoked, api.seen[2]]
    assert api.seen[2] != revoked


def test_a_persistent_401_is_retried_exactly_once(
    server: OAuthServer, api: ProtectedAPI, mode: str
) -> None:
    api.always_401 = True
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    assert send(mode, auth, api.orders_url).status_code == 401
    assert api.request_count("/orders") == 2
    assert server.request_count(TOKEN) == 2


def test_a_burst_of_401s_for_one_token_leads_to_one_new_token(
    server: OAuthServer, api: ProtectedAPI
) -> None:
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    assert send("sync", auth, api.orders_url).status_code == 200
    api.rejected.add(api.seen[0])
    assert many_threads(auth, api.orders_url, 50) == [200] * 50
    assert server.request_count(TOKEN) == 2


@pytest.mark.anyio
async def test_a_burst_of_401s_for_one_token_leads_to_one_new_token_async(
    server: OAuthServer, api: ProtectedAPI
) -> None:
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    assert await many_coroutines(auth, api.orders_url, 1) == [200]
    api.rejected.add(api.seen[0])
    assert await many_coroutines(auth, api.orders_url, 50) == [200] * 50
    assert server.request_count(TOKEN) == 2


def test_a_refused_token_request_surfaces_as_oauth_error(
    server: OAuthServer, api: ProtectedAPI, mode: str
) -> None:
    auth = ClientCredentialsAuth(server.client(), scopes=["billing/admin"])
    with pytest.raises(OAuthError) as info:
        send(mode, auth, api.orders_url)
    assert info.value.error == "invalid_scope"
    assert api.request_count() == 0


def test_threads_waiting_on_a_failed_fetch_share_its_error(
    server: OAuthServer, api: ProtectedAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "token_delay", 0.3)  # all 20 threads wait on this one fetch
    server.inject_oauth_error(TOKEN, "invalid_client", 401)
    auth = ClientCredentialsAuth(server.client(), scopes=["orders/read"])
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    with httpx.Client(auth=auth, limits=LIMITS) as http:

        def one() -> None:
            barrier.wait()
            try:
                outcomes.append(str(http.get(api.orders_url).status_code))
            except OAuthError as exc:
                outcomes.append(exc.error)

        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert outcomes == ["invalid_client"] * 20
    assert server.request_count(TOKEN) == 1


# -- RefreshTokenAuth ----------------------------------------------------------------------------


def _signed_in(
    server: OAuthServer, clock: ManualClock, **options: Any
) -> tuple[CognitoTokenClient, TokenSet]:
    client = server.client(clock=clock, **options)
    return client, client.refresh(server.issue_refresh_token("alice"))


def test_refresh_auth_sends_the_current_access_token(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(server, clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert api.seen == [tokens.access_token]
    assert saved == []
    assert server.request_count(TOKEN) == 1  # only the sign-in's refresh above


def test_refresh_auth_refreshes_near_expiry_and_hands_over_rotated_tokens(
    rotating: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(rotating, clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append, refresh_skew=60)
    clock.advance(3600 - 30)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1
    assert saved[0].refresh_token not in (None, tokens.refresh_token)
    assert auth.tokens is saved[0]
    assert api.seen == [saved[0].access_token]
    assert rotating.is_revoked(tokens.refresh_token or "")
    clock.advance(3600)  # the next refresh must use the rotated refresh token
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 2
    assert saved[1].refresh_token not in (saved[0].refresh_token, tokens.refresh_token)


def test_a_failing_on_refresh_does_not_lose_the_rotated_refresh_token(
    rotating: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(rotating, clock)

    def broken_store(new: TokenSet) -> None:
        raise OSError("the session store is down")

    auth = RefreshTokenAuth(client, tokens, on_refresh=broken_store)
    clock.advance(3600)
    with pytest.raises(OSError, match="session store"):
        send(mode, auth, api.orders_url)
    assert auth.tokens.refresh_token not in (None, tokens.refresh_token)
    assert rotating.is_revoked(tokens.refresh_token or "")
    assert send(mode, auth, api.orders_url).status_code == 200  # the new tokens are in use
    assert rotating.grant_counts["refresh_token"] == 2  # sign-in + the one refresh


def test_an_async_on_refresh_with_a_sync_client_is_a_configuration_error(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock
) -> None:
    client, tokens = _signed_in(server, clock)

    async def persist(new: TokenSet) -> None:
        pass

    auth = RefreshTokenAuth(client, tokens, on_refresh=persist)
    clock.advance(3600)
    with pytest.raises(ConfigurationError, match="AsyncClient"):
        send("sync", auth, api.orders_url)


def test_refresh_auth_refreshes_once_after_a_401(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(server, clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    api.rejected.add(tokens.access_token)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1
    assert saved[0].refresh_token == tokens.refresh_token  # no rotation: the old one is kept
    assert api.seen == [tokens.access_token, saved[0].access_token]


def test_a_revoked_refresh_token_is_invalid_grant_not_a_retry_loop(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(server, clock)
    client.revoke(tokens.refresh_token or "")
    auth = RefreshTokenAuth(client, tokens)
    api.always_401 = True
    for _ in range(2):
        with pytest.raises(OAuthError) as info:
            send(mode, auth, api.orders_url)
        assert info.value.error == "invalid_grant"
    assert server.grant_counts["refresh_token"] == 2  # the sign-in, then one refused refresh
    assert api.request_count("/orders") == 1  # the first attempt; no retry without a token


def test_an_expired_session_fails_before_calling_the_api(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client, tokens = _signed_in(server, clock)
    client.revoke(tokens.refresh_token or "")
    auth = RefreshTokenAuth(client, tokens)
    clock.advance(4000)
    with pytest.raises(OAuthError) as info:
        send(mode, auth, api.orders_url)
    assert info.value.error == "invalid_grant"
    assert api.request_count() == 0


def test_100_threads_share_one_refresh(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, tokens = _signed_in(server, clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    monkeypatch.setattr(server, "token_delay", 0.2)
    clock.advance(3600)
    assert many_threads(auth, api.orders_url, 100) == [200] * 100
    assert len(saved) == 1
    assert server.request_count(TOKEN) == 2  # sign-in + one shared refresh


@pytest.mark.anyio
async def test_100_coroutines_share_one_refresh_and_await_an_async_on_refresh(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, tokens = _signed_in(server, clock)
    saved: list[TokenSet] = []

    async def persist(new: TokenSet) -> None:
        await asyncio.sleep(0)
        saved.append(new)

    auth = RefreshTokenAuth(client, tokens, on_refresh=persist)
    monkeypatch.setattr(server, "token_delay", 0.2)
    clock.advance(3600)
    assert await many_coroutines(auth, api.orders_url, 100) == [200] * 100
    assert len(saved) == 1
    assert server.request_count(TOKEN) == 2


def test_refresh_auth_through_the_user_pool_api_uses_get_tokens_from_refresh_token(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    client = server.api_client(clock=clock)
    tokens = client.refresh(server.issue_refresh_token("carol"))
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    clock.advance(3600)
    assert send(mode, auth, api.orders_url).status_code == 200
    assert len(saved) == 1
    assert saved[0].refresh_token == tokens.refresh_token  # no rotation: the old one is kept
    assert server.api_counts == {"GetTokensFromRefreshToken": 2}


def test_refresh_auth_hands_every_rotated_token_set_to_on_refresh_on_both_paths(
    rotating: OAuthServer, api: ProtectedAPI, clock: ManualClock, mode: str
) -> None:
    for client in (rotating.client(clock=clock), rotating.api_client(clock=clock)):
        tokens = client.refresh(rotating.issue_refresh_token("erin"))
        saved: list[TokenSet] = []
        auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
        used = [tokens.refresh_token]
        for _ in range(3):
            clock.advance(3600)
            assert send(mode, auth, api.orders_url).status_code == 200
            used.append(saved[-1].refresh_token)
        assert len(saved) == 3
        assert len(set(used)) == 4  # every refresh rotated, and each used the latest token
        assert [rotating.is_revoked(token or "") for token in used] == [True] * 3 + [False]
        assert auth.tokens is saved[-1]
    assert rotating.grant_counts["refresh_token"] == 4
    assert rotating.api_counts == {"GetTokensFromRefreshToken": 4}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_refresh_stranded_on_a_loop_closed_without_cancelling_it_does_not_hang_the_next(
    server: OAuthServer, api: ProtectedAPI, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop run by hand for one request and closed with the refresh still under way: that
    refresh never lands, and the next request, on a thread, refreshes instead of waiting for it.
    """
    client, tokens = _signed_in(server, clock)
    saved: list[TokenSet] = []
    auth = RefreshTokenAuth(client, tokens, on_refresh=saved.append)
    clock.advance(3600)
    monkeypatch.setattr(server, "token_delay", 0.5)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(asyncio.TimeoutError):
            loop.run_until_complete(asyncio.wait_for(send_async(auth, api.orders_url), 0.1))
    finally:
        loop.close()  # the refresh task is left pending: it never runs again
    monkeypatch.setattr(server, "token_delay", 0.0)
    statuses: list[int] = []

    def next_request(auth: httpx.Auth) -> None:
        statuses.append(send("sync", auth, api.orders_url).status_code)

    # A daemon thread: on a hang the test fails below instead of hanging the session.
    thread = threading.Thread(target=next_request, args=(auth,), daemon=True)
    thread.start()
    thread.join(10)
    assert statuses == [200]
    assert len(saved) == 1
    assert api.seen[-1] == saved[0].access_token
    # A task left pending on a closed loop fails when collected (its httpx client cannot close
    # without a loop): collected here, where that is expected, not in some later test.
    del auth, loop
    gc.collect()


async def send_async(auth: httpx.Auth, url: str) -> httpx.Response:
    async with httpx.AsyncClient(auth=auth) as http:
        return await http.get(url)
