"""End to end: the example project (examples/django_app) behind real servers on 127.0.0.1.

Each server runs in a subprocess configured by the ``COGNITO_*`` environment variables only, and
fetches its keys over HTTP from the local issuer's JWKS server in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cognito_guard.testing import JWKSServer, LocalIssuer
from cognito_guard.testing.process import AppProcess

from . import matrix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
STARTUP_TIMEOUT = 60.0


def _environment(**cognito: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COGNITO_") and k != "DJANGO_SETTINGS_MODULE"
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(EXAMPLE), str(EXAMPLE.parents[1]), env.get("PYTHONPATH", "")]
    )
    env.update(cognito)
    return env


@pytest.fixture(params=["waitress", "uvicorn"])
def example_server(
    request: pytest.FixtureRequest, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> Iterator[str]:
    """The example project served by waitress (WSGI, sync) or uvicorn (ASGI, async)."""
    target = "wsgi:application" if request.param == "waitress" else "asgi:application"
    env = {
        "DJANGO_SETTINGS_MODULE": "settings",
        "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
        "COGNITO_CLIENT_ID": cognito_issuer.client_id,
        "COGNITO_TOKEN_USE": "access",
        "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
    }
    with AppProcess(
        target, server=request.param, paths=[EXAMPLE, EXAMPLE.parents[1]], env=env
    ) as app:
        yield app.url


def test_example_project_answers_the_matrix_over_http(
    example_server: str,
    cognito_issuer: LocalIssuer,
    other_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
) -> None:
    with httpx.Client(base_url=example_server, timeout=10) as client:
        for case in matrix.CASES:
            headers = matrix.headers_for(case, cognito_issuer, other_issuer)
            response = client.request(case.method, case.path, headers=headers)
            matrix.check(case, response.status_code, response.headers, response.json())
    # The keys came from the JWKS server over HTTP, once, then from the verifier's cache.
    assert cognito_jwks_server.request_count() >= 1


def test_example_server_answers_503_when_the_jwks_endpoint_fails(
    example_server: str, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with httpx.Client(base_url=example_server, timeout=10) as client:
        response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
        public = client.get("/public", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"
    assert public.status_code == 200


def test_example_refuses_to_start_without_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=EXAMPLE,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr
    assert "COGNITO_USER_POOL_ID" in result.stderr


def test_example_manage_py_check_reports_missing_configuration() -> None:
    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=EXAMPLE,
            env=env,
            capture_output=True,
            text=True,
            timeout=STARTUP_TIMEOUT,
            check=False,
        )

    missing = check(_environment())
    assert missing.returncode == 1
    assert "cognito_guard.E001" in missing.stderr
    assert "COGNITO_USER_POOL_ID" in missing.stderr
    configured = check(
        _environment(COGNITO_USER_POOL_ID="eu-west-1_AbCdEf123", COGNITO_CLIENT_ID="abc")
    )
    assert configured.returncode == 0, configured.stderr
    assert "no issues" in configured.stdout


def test_example_keeps_users_and_their_orders_in_its_database(
    example_server: str, cognito_issuer: LocalIssuer
) -> None:
    writer = cognito_issuer.access_token(username="ada", scopes=["orders/write", "orders/read"])
    other = cognito_issuer.access_token(username="bo", scopes=["orders/read"])
    service = cognito_issuer.m2m_token(scopes=["orders/write"])
    with httpx.Client(base_url=example_server, timeout=10) as client:

        def call(method: str, path: str, token: str) -> httpx.Response:
            return client.request(method, path, headers={"Authorization": f"Bearer {token}"})

        first = call("GET", "/me", writer).json()["user_id"]
        assert isinstance(first, int) and call("GET", "/me", writer).json()["user_id"] == first
        assert call("POST", "/orders?item=lamp", writer).status_code == 201
        assert call("GET", "/orders", writer).json()["orders"] == ["lamp"]
        assert call("GET", "/orders", other).json()["orders"] == []  # another user, another row
        assert call("GET", "/me", other).json()["user_id"] != first
        # A machine-to-machine client is a service principal: no row, no orders of its own.
        assert call("POST", "/orders", service).status_code == 403
