"""FastAPI in a fleet: the example's readiness probe under a real uvicorn, its lifespan closing
the revocation list, and a sign-out recorded through the guard's own list."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI

from cognito_guard import ConfigurationError
from cognito_guard.integrations.starlette import CognitoGuard
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import JWKSServer, LocalIssuer, OAuthServer, RedisServer

from .._polling import wait_for_status
from ._uvicorn import uvicorn_thread
from .test_fastapi import clear_env, load_example


@contextmanager
def uvicorn_serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, with its lifespan; yield its URL."""
    with uvicorn_thread(app, lifespan="on") as url:
        yield url


def configured(
    monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, jwks_uri: str, redis_url: str
) -> ModuleType:
    """examples/fastapi_app.py imported with these COGNITO_* variables."""
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", jwks_uri)
    monkeypatch.setenv("COGNITO_REVOCATIONS_URL", redis_url)
    return load_example()


def revocations_of(app: FastAPI) -> RedisRevocations:
    revocations = app.state.cognito_guard.revocations
    assert isinstance(revocations, RedisRevocations)
    return revocations


def test_ready_is_200_and_the_lifespan_closes_the_list(
    monkeypatch: pytest.MonkeyPatch,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    cognito_redis_url: str,
) -> None:
    app = configured(
        monkeypatch, cognito_issuer, cognito_jwks_server.jwks_uri, cognito_redis_url
    ).app
    revocations = revocations_of(app)
    with uvicorn_serving(app) as url:
        response = wait_for_status(url + "/ready", 200)
        assert response.json() == {"ready": True, "reasons": []}
        assert revocations._thread.is_alive()
    assert not revocations._thread.is_alive()  # the lifespan's shutdown closed it


def test_ready_is_503_with_the_reason_when_the_jwks_endpoint_fails(
    monkeypatch: pytest.MonkeyPatch,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    cognito_redis_url: str,
) -> None:
    cognito_jwks_server.status = 500
    app = configured(
        monkeypatch, cognito_issuer, cognito_jwks_server.jwks_uri, cognito_redis_url
    ).app
    with uvicorn_serving(app) as url:
        response = httpx.get(url + "/ready", timeout=10)
    assert response.status_code == 503
    (reason,) = response.json()["reasons"]
    assert reason.startswith("signing keys of ") and "HTTP 500" in reason


def test_redis_down_at_start_is_not_waited_for_and_ready_says_why(
    monkeypatch: pytest.MonkeyPatch,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    own_redis: RedisServer,
) -> None:
    own_redis.stop()
    default_timeout = inspect.signature(RedisRevocations).parameters["timeout"].default
    started = time.monotonic()
    app = configured(monkeypatch, cognito_issuer, cognito_jwks_server.jwks_uri, own_redis.url).app
    assert time.monotonic() - started < default_timeout
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with uvicorn_serving(app) as url:
        ready = httpx.get(url + "/ready", timeout=10)
        orders = httpx.get(url + "/orders", headers={"Authorization": f"Bearer {token}"})
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["revocation list not loaded yet"]
        assert orders.status_code == 503
        own_redis.start()
        assert wait_for_status(url + "/ready", 200).status_code == 200


def test_ready_turns_503_when_redis_stops(
    monkeypatch: pytest.MonkeyPatch,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    own_redis: RedisServer,
) -> None:
    example = configured(monkeypatch, cognito_issuer, cognito_jwks_server.jwks_uri, own_redis.url)
    revocations_of(example.app).close()  # the module-level app's list: not used here
    # A short staleness bound, so that the test need not wait a minute for the list to go stale.
    revocations = RedisRevocations(own_redis.url, max_staleness=1, resync_interval=0.1)
    app = example.create_app(
        cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri, revocations=revocations)
    )
    with uvicorn_serving(app) as url:
        assert wait_for_status(url + "/ready", 200).status_code == 200
        own_redis.stop()
        response = wait_for_status(url + "/ready", 503)
    assert response.status_code == 503
    (reason,) = response.json()["reasons"]
    assert reason.startswith("revocation list stale: ")


@pytest.fixture
def oauth(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth() as server:
        yield server


def test_sign_out_through_the_guards_list_is_refused_here_and_in_other_processes(
    monkeypatch: pytest.MonkeyPatch, oauth: OAuthServer, cognito_redis_url: str
) -> None:
    example = configured(monkeypatch, oauth.issuer, oauth.jwks_uri, cognito_redis_url)
    other = configured(monkeypatch, oauth.issuer, oauth.jwks_uri, cognito_redis_url)
    client = oauth.client()
    tokens = client.refresh(oauth.issue_refresh_token("alice"))
    me = {"Authorization": f"Bearer {tokens.access_token}"}
    with uvicorn_serving(example.app) as url, uvicorn_serving(other.app) as other_url:
        assert httpx.get(url + "/me", headers=me).status_code == 200
        assert wait_for_status(other_url + "/me", 200, headers=me).status_code == 200
        guard = example.app.state.cognito_guard  # what a route reads: request.app.state
        asyncio.run(client.asign_out(tokens, revocations=guard.revocations))
        refused = httpx.get(url + "/me", headers=me)
        assert refused.status_code == 401
        assert refused.json()["error_description"] == "The token has been revoked"
        assert wait_for_status(other_url + "/me", 401, headers=me).status_code == 401


def test_revocations_without_a_list_is_a_configuration_error(
    cognito_issuer: LocalIssuer,
) -> None:
    guard = CognitoGuard(FastAPI(), verifier=cognito_issuer.verifier())
    with pytest.raises(ConfigurationError, match="no revocation list: set COGNITO_REVOCATIONS"):
        _ = guard.revocations
    with_list = CognitoGuard(FastAPI(), verifier=cognito_issuer.verifier(revocations=_OnlyChecks()))
    with pytest.raises(ConfigurationError, match="cannot record a sign-out"):
        _ = with_list.revocations


class _OnlyChecks:
    """A revocation list that checks but cannot record (a read-only view of some other list)."""

    def check(self, claims: object) -> None:
        return None

    def is_revoked(self, claims: object) -> bool:
        return False
