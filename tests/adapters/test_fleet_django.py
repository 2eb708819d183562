"""Django in a fleet: the example project's readiness probe under waitress and uvicorn, start-up
with Redis down, and a sign-out recorded through the middleware's own revocation list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path

from cognito_guard.bearer import BearerGuard
from cognito_guard.client import CognitoTokenClient
from cognito_guard.integrations.django import request_state, require_auth
from cognito_guard.revocation import RedisRevocations
from cognito_guard.testing import JWKSServer, LocalIssuer, OAuthServer, RedisServer
from cognito_guard.testing.process import AppProcess

from .._polling import wait_for_status
from .django_project import setup

setup()

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"


def serve_example(server: str, issuer: LocalIssuer, jwks_uri: str, redis_url: str) -> AppProcess:
    target = "wsgi:application" if server == "waitress" else "asgi:application"
    env = {
        "DJANGO_SETTINGS_MODULE": "settings",
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_URI": jwks_uri,
        "COGNITO_REVOCATIONS_URL": redis_url,
    }
    return AppProcess(
        target,
        server=server,  # type: ignore[arg-type]
        paths=[EXAMPLE, EXAMPLE.parents[1]],
        env=env,
        cwd=EXAMPLE,
    )


@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
def test_ready_follows_redis_from_down_at_start_to_up(
    server: str,
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    own_redis: RedisServer,
) -> None:
    own_redis.stop()
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with serve_example(server, cognito_issuer, cognito_jwks_server.jwks_uri, own_redis.url) as app:
        ready = httpx.get(app.url + "/ready", timeout=10)
        orders = httpx.get(app.url + "/orders", headers={"Authorization": f"Bearer {token}"})
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "reasons": ["revocation list not loaded yet"]}
        assert orders.status_code == 503
        own_redis.start()
        up = wait_for_status(app.url + "/ready", 200)
        assert up.json() == {"ready": True, "reasons": []}


def test_ready_is_503_with_the_reason_when_the_jwks_endpoint_fails(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer, cognito_redis_url: str
) -> None:
    cognito_jwks_server.status = 500
    with serve_example(
        "uvicorn", cognito_issuer, cognito_jwks_server.jwks_uri, cognito_redis_url
    ) as app:
        response = wait_for_status(app.url + "/ready", 200, timeout=1)
    assert response.status_code == 503
    (reason,) = response.json()["reasons"]
    assert reason.startswith("signing keys of ") and "HTTP 500" in reason


# -- sign-out through the middleware's list, in this process -------------------------------------

_guards: list[BearerGuard] = []  # every guard a view saw, closed after the test
_client: list[CognitoTokenClient] = []  # the double's client, for the sign-out view


@require_auth
def me(request: HttpRequest) -> JsonResponse:
    _guards.append(request_state(request).guard)
    return JsonResponse({"sub": request.cognito_user.sub})  # type: ignore[attr-defined]


@require_auth
def sign_out_everywhere(request: HttpRequest) -> JsonResponse:
    """GlobalSignOut at Cognito, then recorded in the list the middleware built from
    REVOCATIONS_URL: every process sharing it refuses the user's tokens."""
    guard = request_state(request).guard
    _guards.append(guard)
    token = request.headers["Authorization"].removeprefix("Bearer ")
    _client[0].global_sign_out(token, revocations=guard.revocations)
    return JsonResponse({"signed_out": True})


urlpatterns = [path("me", me), path("sign-out-everywhere", sign_out_everywhere)]


@pytest.fixture
def oauth(cognito_issuer: LocalIssuer) -> Iterator[OAuthServer]:
    with cognito_issuer.serve_oauth() as server:
        _client[:] = [server.api_client()]
        yield server
    for guard in _guards:
        if isinstance(guard.verifier.revocations, RedisRevocations):
            guard.verifier.revocations.close()
    _guards.clear()


def test_sign_out_through_the_middlewares_list_is_refused_here_and_in_other_processes(
    oauth: OAuthServer, cognito_redis_url: str
) -> None:
    settings = {
        "USER_POOL_ID": oauth.issuer.user_pool_id,
        "CLIENT_ID": oauth.issuer.client_id,
        "JWKS_URI": oauth.jwks_uri,
        "REVOCATIONS_URL": cognito_redis_url,
    }
    tokens = oauth.api_client().refresh(oauth.issue_refresh_token("alice"))
    me_headers = {"Authorization": f"Bearer {tokens.access_token}"}
    with override_settings(COGNITO_GUARD=settings, ROOT_URLCONF=__name__):
        here, elsewhere = Client(), Client()  # a middleware (and a list) each
        assert here.get("/me", headers=me_headers).status_code == 200
        assert elsewhere.get("/me", headers=me_headers).status_code == 200
        assert here.post("/sign-out-everywhere", headers=me_headers).status_code == 200
        refused = here.get("/me", headers=me_headers)
        assert refused.status_code == 401
        assert refused.json()["error_description"] == "The token has been revoked"
        deadline = time.monotonic() + 10
        while elsewhere.get("/me", headers=me_headers).status_code != 401:
            assert time.monotonic() < deadline, "the other process did not refuse it"
            time.sleep(0.02)
    assert oauth.signed_out_at("alice") is not None  # Cognito was told as well
