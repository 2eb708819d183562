"""A default server set-up shows an operator why every request is refused: once, at WARNING.

uvicorn and waitress configure their own loggers only; a library's WARNING records reach stderr
through Python's last-resort handler, its INFO records do not. A service whose verifier does not
match the tokens (here: tokens of another user pool) must say so there once, not once per request.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from cognito_guard.testing import JWKSServer, LocalIssuer
from cognito_guard.testing.process import AppProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("target", "server"), [("fastapi_app:app", "uvicorn"), ("flask_app:app", "waitress")]
)
def test_a_wrong_pool_on_every_request_is_one_warning_on_stderr(
    cognito_issuer: LocalIssuer,
    other_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    target: str,
    server: str,
) -> None:
    env = {
        "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
        "COGNITO_CLIENT_ID": cognito_issuer.client_id,
        "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
    }
    token = other_issuer.access_token(scopes=["orders/read"])
    app = AppProcess(target, server=server, paths=[EXAMPLES], env=env)  # type: ignore[arg-type]
    with app, httpx.Client(base_url=app.url, timeout=10) as client:
        for _ in range(3):
            response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
    lines = [line for line in app.stderr.splitlines() if "InvalidIssuerError" in line]
    assert len(lines) == 1, app.stderr
    assert lines[0].startswith("rejected GET /orders with 401: InvalidIssuerError: ")
    assert "check the user pool id / issuer setting" in lines[0]
    assert token not in app.stderr
