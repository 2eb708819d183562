"""Flask in a fleet: the example's readiness probe through waitress, start-up with Redis down,
and a sign-out recorded through the guard's own revocation list (COGNITO_REVOCATIONS_URL)."""

from __future__ import annotations

import importlib.util
import inspect
import time
from collections.abc import Callable, Iterator
from types import ModuleType

import httpx
import pytest
from flask import Flask

from cognito_guard import ConfigurationError
from cognito_guard.integrations.flask import CognitoGuard
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import JWKSServer, LocalIssuer, OAuthServer, RedisServer

from .._polling import wait_for_status
from .test_flask_server import EXAMPLE, load_example, waitress


def example_module() -> ModuleType:
    """examples/flask_app.py, for its create_app (its module-level app reads no COGNITO_*)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_AbCdEf123")
        patch.setenv("COGNITO_CLIENT_ID", "unused")
        spec = importlib.util.spec_from_file_location("flask_app_fleet", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def loaded() -> Iterator[Callable[[dict[str, str]], Flask]]:
    """load_example, whose apps' revocation lists are closed after the test (a list left open
    on the shared Redis would take part in other tests)."""
    apps: list[Flask] = []

    def load(environ: dict[str, str]) -> Flask:
        apps.append(load_example(environ))
        return apps[-1]

    yield load
    for app in apps:
        revocations = CognitoGuard.verifier(app).revocations
        if isinstance(revocations, RedisRevocations):
            revocations.close()


def example_env(issuer: LocalIssuer, jwks_uri: str, redis_url: str) -> dict[str, str]:
    return {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_URI": jwks_uri,
        "COGNITO_REVOCATIONS_URL": redis_url,
    }


def test_ready_is_200_when_keys_and_revocations_are_up(
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    cognito_redis_url: str,
    loaded: Callable[[dict[str, str]], Flask],
) -> None:
    app = loaded(example_env(cognito_issuer, cognito_jwks_server.jwks_uri, cognito_redis_url))
    with waitress(app) as url:
        response = wait_for_status(url + "/ready", 200)  # the list's first load is on its thread
    assert response.status_code == 200
    assert response.json() == {"ready": True, "reasons": []}


def test_ready_is_503_with_the_reason_when_the_jwks_endpoint_fails(
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    cognito_redis_url: str,
    loaded: Callable[[dict[str, str]], Flask],
) -> None:
    cognito_jwks_server.status = 500
    app = loaded(example_env(cognito_issuer, cognito_jwks_server.jwks_uri, cognito_redis_url))
    with waitress(app) as url:
        response = wait_for_status(url + "/ready", 200, timeout=1)
    assert response.status_code == 503
    (reason,) = response.json()["reasons"]
    assert reason.startswith("signing keys of ") and "HTTP 500" in reason


def test_redis_down_at_start_is_not_waited_for_and_ready_says_why(
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    own_redis: RedisServer,
    loaded: Callable[[dict[str, str]], Flask],
) -> None:
    own_redis.stop()
    default_timeout = inspect.signature(RedisRevocations).parameters["timeout"].default
    started = time.monotonic()
    app = loaded(example_env(cognito_issuer, cognito_jwks_server.jwks_uri, own_redis.url))
    assert time.monotonic() - started < default_timeout
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with waitress(app) as url:
        ready = httpx.get(url + "/ready", timeout=10)
        orders = httpx.get(url + "/orders", headers={"Authorization": f"Bearer {token}"})
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["revocation list not loaded yet"]
        assert orders.status_code == 503  # the probe and the routes agree
        own_redis.start()
        assert wait_for_status(url + "/ready", 200).status_code == 200


def test_ready_turns_503_when_redis_stops(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer, own_redis: RedisServer
) -> None:
    # A short staleness bound, so that the test need not wait a minute for the list to go stale.
    revocations = RedisRevocations(own_redis.url, max_staleness=1, resync_interval=0.1)
    verifier = cognito_issuer.verifier(
        jwks_uri=cognito_jwks_server.jwks_uri, revocations=revocations
    )
    app = example_module().create_app(verifier=verifier)
    try:
        with waitress(app) as url:
            assert wait_for_status(url + "/ready", 200).status_code == 200
            own_redis.stop()
            response = wait_for_status(url + "/ready", 503)
        assert response.status_code == 503
        (reason,) = response.json()["reasons"]
        assert reason.startswith("revocation list stale: ")
    finally:
        revocations.close()


@pytest.fixture
def oauth(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth() as server:
        yield server


def test_sign_out_through_the_guards_list_is_refused_here_and_in_other_processes(
    oauth: OAuthServer, cognito_redis_url: str
) -> None:
    config = {
        "COGNITO_USER_POOL_ID": oauth.issuer.user_pool_id,
        "COGNITO_CLIENT_ID": oauth.issuer.client_id,
        "COGNITO_JWKS_URI": oauth.jwks_uri,
        "COGNITO_REVOCATIONS_URL": cognito_redis_url,
    }
    example = example_module()
    app, other = example.create_app(config), example.create_app(config)  # two processes' lists
    client = oauth.client()
    tokens = client.refresh(oauth.issue_refresh_token("alice"))
    me = {"Authorization": f"Bearer {tokens.access_token}"}
    try:
        with waitress(app) as url, waitress(other) as other_url:
            assert httpx.get(url + "/me", headers=me).status_code == 200
            assert wait_for_status(other_url + "/me", 200, headers=me).status_code == 200
            client.sign_out(tokens, revocations=CognitoGuard.revocations(app))
            refused = httpx.get(url + "/me", headers=me)
            assert refused.status_code == 401
            assert refused.json()["error_description"] == "The token has been revoked"
            assert wait_for_status(other_url + "/me", 401, headers=me).status_code == 401
    finally:
        for each in (app, other):
            example.close(each)


def test_revocations_without_a_list_is_a_configuration_error(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    app = load_example(
        {
            "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
            "COGNITO_CLIENT_ID": cognito_issuer.client_id,
            "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
        }
    )
    with pytest.raises(ConfigurationError, match="no revocation list: set COGNITO_REVOCATIONS"):
        CognitoGuard.revocations(app)
