"""End to end: examples/fastapi_app.py under a real uvicorn on 127.0.0.1, keys over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from ._uvicorn import uvicorn_thread
from .test_fastapi import clear_env, load_example


@pytest.fixture
def base_url(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> Iterator[str]:
    """The example app, configured from COGNITO_* variables, under uvicorn on a free port."""
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", cognito_jwks_server.jwks_uri)
    app = load_example().app
    # websockets-sansio: uvicorn's default "websockets" implementation uses the deprecated
    # legacy API of websockets, whose warnings would be errors here.
    with uvicorn_thread(app, ws="websockets-sansio") as url:
        yield url


def test_matrix_through_a_real_server(
    base_url: str, cognito_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for case in matrix.CASES:
            headers = matrix.headers_for(case, cognito_issuer, other_issuer)
            response = client.request(case.method, case.path, headers=headers)
            matrix.check(case, response.status_code, response.headers, response.json())


@pytest.mark.anyio
async def test_concurrent_requests_on_a_cold_cache_fetch_the_keys_once(
    base_url: str, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    # A slow JWKS answer keeps the one fetch in flight while the other requests arrive.
    cognito_jwks_server.delay = 0.3
    tokens = [cognito_issuer.access_token(scopes=["orders/read"], sub=f"u{i}") for i in range(25)]
    assert cognito_jwks_server.request_count() == 0
    limits = httpx.Limits(max_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.get("/orders", headers={"Authorization": f"Bearer {t}"}) for t in tokens)
        )
    assert [r.status_code for r in responses] == [200] * len(tokens)
    assert sorted(r.json()["user"] for r in responses) == sorted(f"u{i}" for i in range(25))
    assert cognito_jwks_server.request_count() == 1


def test_keys_unavailable_is_503_through_a_real_server(
    base_url: str, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    response = httpx.get(base_url + "/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"


def test_websocket_through_a_real_server(base_url: str, cognito_issuer: LocalIssuer) -> None:
    url = base_url.replace("http://", "ws://") + "/ws/orders"
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="ws-live")
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as websocket:
        assert json.loads(websocket.recv(timeout=10)) == {"user": "ws-live", "orders": []}
    # uvicorn answers a handshake closed before accept (code 1008) with HTTP 403
    for headers in ({}, {"Authorization": "Bearer not.a.jwt"}):
        with pytest.raises(InvalidStatus) as caught:
            connect(url, additional_headers=headers, open_timeout=10)
        assert caught.value.response.status_code == 403
