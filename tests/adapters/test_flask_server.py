"""End to end: the Flask example and async views through a real waitress server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from flask import Flask
from waitress.server import create_server

from cognito_guard import KeyPolicy
from cognito_guard.integrations.flask import (
    CognitoGuard,
    current_cognito_user,
    require_auth,
)
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app.py"
THREADS = 4


@contextmanager
def waitress(app: Flask, threads: int = THREADS) -> Iterator[str]:
    """Serve ``app`` with waitress on 127.0.0.1 (a free port) in a thread; yield its URL.

    The serving thread runs waitress's loop one bounded poll at a time and closes every socket
    itself when told to stop: closing them from the test's thread races the poll (EBADF).
    """
    server: Any = create_server(app, host="127.0.0.1", port=0, threads=threads)
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                server.asyncore.loop(timeout=0.05, map=server._map, count=1)
        finally:
            for channel in list(server._map.values()):
                channel.close()
            server.task_dispatcher.shutdown(timeout=5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive(), "waitress did not stop"


def load_example(environ: dict[str, str]) -> Flask:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environ.items():
            patch.setenv(name, value)
        spec = importlib.util.spec_from_file_location("flask_app_e2e", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    app: Flask = module.app
    return app


@pytest.fixture(scope="module")
def e2e_issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def e2e_jwks(e2e_issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with e2e_issuer.serve() as server:
        yield server


@pytest.fixture(scope="module")
def example_url(e2e_issuer: LocalIssuer, e2e_jwks: JWKSServer) -> Iterator[str]:
    """examples/flask_app.py, configured from COGNITO_* variables, served by waitress."""
    app = load_example(
        {
            "COGNITO_USER_POOL_ID": e2e_issuer.user_pool_id,
            "COGNITO_CLIENT_ID": e2e_issuer.client_id,
            "COGNITO_TOKEN_USE": "access",
            "COGNITO_JWKS_URI": e2e_jwks.jwks_uri,
        }
    )
    with waitress(app) as url:
        yield url


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_through_waitress(
    case: matrix.Case, example_url: str, e2e_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    headers = matrix.headers_for(case, e2e_issuer, other_issuer)
    response = httpx.request(case.method, example_url + case.path, headers=headers, timeout=10)
    matrix.check(case, response.status_code, response.headers, response.json())


def test_two_authorization_headers_through_waitress(
    example_url: str, e2e_issuer: LocalIssuer
) -> None:
    token = e2e_issuer.access_token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    response = httpx.get(example_url + "/me", headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_jwks_down_is_503_with_retry_after_through_waitress(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    app = load_example(
        {
            "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
            "COGNITO_CLIENT_ID": cognito_issuer.client_id,
            "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
        }
    )
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with waitress(app) as url:
        response = httpx.get(url + "/orders", headers={"Authorization": f"Bearer {token}"})
        public = httpx.get(url + "/public", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": "The token signing keys cannot be fetched; try again later",
    }
    assert public.status_code == 200  # unprotected views do not depend on the keys


def _cold_start(issuer: LocalIssuer, server: JWKSServer, flavour: str) -> list[int]:
    """Fire 2 x THREADS concurrent first requests at an app whose keys are not fetched yet."""
    server.delay = 0.3  # keep the first fetch in flight while the other requests arrive
    app = Flask(__name__)
    CognitoGuard(
        app,
        verifier=issuer.verifier(jwks_uri=server.jwks_uri, key_policy=KeyPolicy(timeout=10)),
    )

    if flavour == "async":

        @app.get("/me")
        @require_auth
        async def me_async() -> dict[str, Any]:
            return {"sub": current_cognito_user.sub}

    else:

        @app.get("/me")
        @require_auth
        def me_sync() -> dict[str, Any]:
            return {"sub": current_cognito_user.sub}

    tokens = [issuer.access_token(username=f"user{i}") for i in range(2 * THREADS)]
    with waitress(app) as url, ThreadPoolExecutor(len(tokens)) as pool:
        return list(
            pool.map(
                lambda token: (
                    httpx.get(
                        url + "/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
                    ).status_code
                ),
                tokens,
            )
        )


def test_sync_views_share_one_jwks_fetch_across_server_threads(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    statuses = _cold_start(cognito_issuer, cognito_jwks_server, "sync")
    assert statuses == [200] * len(statuses)
    assert cognito_jwks_server.request_count() == 1


def test_async_views_share_one_jwks_fetch_across_event_loops(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    """Flask runs each async view in an event loop of its own; the key store's single flight
    spans loops and threads, so concurrent cold requests still make one fetch."""
    statuses = _cold_start(cognito_issuer, cognito_jwks_server, "async")
    assert statuses == [200] * len(statuses)
    assert cognito_jwks_server.request_count() == 1
