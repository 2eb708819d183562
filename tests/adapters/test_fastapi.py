"""The FastAPI adapter: the matrix through examples/fastapi_app.py, and FastAPI's own features.

HTTP requests go through httpx's ASGITransport; WebSocket handshakes through Starlette's
TestClient, the only in-process client that speaks WebSocket.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.websockets import WebSocketDisconnect

from cognito_guard import CognitoClaims, CognitoVerifier, ConfigurationError
from cognito_guard.integrations.starlette import (
    CognitoGuard,
    CognitoHTTPException,
    cognito_user,
    cognito_user_optional,
    require_scope,
)
from cognito_guard.keys import KeyStore
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from ._testclient import TestClient
from .matrix import asgi_client, bearer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"
ENV_NAMES = (
    "USER_POOL_ID",
    "CLIENT_ID",
    "TOKEN_USE",
    "JWKS_URI",
    "ISSUER",
    "SCOPES",
    "GROUPS",
    "LEEWAY",
    "ALLOW_ANY_CLIENT",
)


def load_example() -> ModuleType:
    """Execute examples/fastapi_app.py afresh, as uvicorn would import it."""
    spec = importlib.util.spec_from_file_location(f"fastapi_app_{uuid.uuid4().hex}", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clear_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv("COGNITO_" + name, raising=False)


@pytest.fixture
def cognito_env(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    """COGNITO_* variables for the local issuer, its keys served over real HTTP."""
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_TOKEN_USE", "access")
    monkeypatch.setenv("COGNITO_JWKS_URI", cognito_jwks_server.jwks_uri)


@pytest.fixture
def example_app(cognito_env: None) -> FastAPI:
    app = load_example().app
    assert isinstance(app, FastAPI)
    return app


@pytest.mark.anyio
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
async def test_matrix(
    case: matrix.Case, example_app: FastAPI, cognito_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    headers = matrix.headers_for(case, cognito_issuer, other_issuer)
    async with asgi_client(example_app) as client:
        response = await client.request(case.method, case.path, headers=headers)
    matrix.check(case, response.status_code, response.headers, response.json())


@pytest.mark.anyio
async def test_handlers_receive_the_verified_claims(
    example_app: FastAPI, cognito_issuer: LocalIssuer
) -> None:
    sub = "11111111-2222-3333-4444-555555555555"
    async with asgi_client(example_app) as client:
        me = await client.get("/me", headers=bearer(cognito_issuer.access_token(sub=sub)))
        created = await client.post(
            "/orders",
            headers=bearer(cognito_issuer.access_token(sub=sub, scopes=["orders/write"])),
        )
    assert me.json() == {"sub": sub, "username": "alice", "scopes": ["email", "openid"]}
    assert created.status_code == 201
    assert created.json() == {"user": sub, "created": True}


@pytest.mark.anyio
async def test_a_request_is_verified_once_and_never_with_the_blocking_path(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    def blocking(*_args: Any) -> Any:
        raise AssertionError("the blocking path was used on the event loop")

    calls: list[str] = []
    averify = cognito_verifier.averify

    async def counting(token: str) -> CognitoClaims:
        calls.append(token)
        return await averify(token)

    monkeypatch.setattr(cognito_verifier, "verify", blocking)
    monkeypatch.setattr(KeyStore, "get_key", blocking)
    monkeypatch.setattr(cognito_verifier, "averify", counting)
    app = FastAPI()
    CognitoGuard(app, verifier=cognito_verifier)

    @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
    async def orders(
        user: Annotated[CognitoClaims, Depends(cognito_user)],
        again: Annotated[CognitoClaims | None, Depends(cognito_user_optional)],
    ) -> dict[str, Any]:
        return {"same": again is user}

    async with asgi_client(app) as client:
        response = await client.get(
            "/orders", headers=bearer(cognito_issuer.access_token(scopes=["orders/read"]))
        )
    assert response.status_code == 200
    assert response.json() == {"same": True}
    assert len(calls) == 1


def security_app(verifier: CognitoVerifier) -> FastAPI:
    app = FastAPI()
    CognitoGuard(app, verifier=verifier)

    @app.get("/reports")
    async def reports(
        user: Annotated[CognitoClaims, Security(require_scope("reports/read"), scopes=["x/y"])],
    ) -> dict[str, Any]:
        return {"user": user.sub}

    @app.get("/catalogue")
    async def catalogue(
        user: Annotated[CognitoClaims | None, Depends(cognito_user_optional)],
    ) -> dict[str, Any]:
        return {"user": None if user is None else user.sub}

    @app.get("/premium")
    async def premium(
        user: Annotated[
            CognitoClaims | None, Security(cognito_user_optional, scopes=["catalogue/premium"])
        ],
    ) -> dict[str, Any]:
        return {"user": None if user is None else user.sub}

    return app


@pytest.mark.anyio
async def test_security_scopes_add_to_the_dependency_own_scopes(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    async with asgi_client(security_app(cognito_verifier)) as client:
        partial = await client.get(
            "/reports", headers=bearer(cognito_issuer.access_token(scopes=["reports/read"]))
        )
        full = await client.get(
            "/reports",
            headers=bearer(cognito_issuer.access_token(scopes=["reports/read", "x/y"])),
        )
    assert partial.status_code == 403
    assert 'error="insufficient_scope"' in partial.headers["www-authenticate"]
    assert 'scope="reports/read x/y"' in partial.headers["www-authenticate"]
    assert full.status_code == 200


@pytest.mark.anyio
async def test_optional_user_is_none_without_a_token_but_a_bad_token_is_rejected(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    token = cognito_issuer.access_token(scopes=["openid"])
    async with asgi_client(security_app(cognito_verifier)) as client:
        anonymous = await client.get("/catalogue")
        known = await client.get("/catalogue", headers=bearer(token))
        expired = await client.get(
            "/catalogue", headers=bearer(cognito_issuer.access_token(expires_in=-60))
        )
        malformed = await client.get("/catalogue", headers={"Authorization": "Bearer a b"})
        premium_anonymous = await client.get("/premium")
        premium_lacking = await client.get("/premium", headers=bearer(token))
    assert anonymous.status_code == 200 and anonymous.json() == {"user": None}
    assert known.status_code == 200 and known.json() == {"user": cognito_verifier.verify(token).sub}
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "invalid_request"
    assert premium_anonymous.json() == {"user": None}
    assert premium_lacking.status_code == 403
    assert 'scope="catalogue/premium"' in premium_lacking.headers["www-authenticate"]


@pytest.mark.anyio
async def test_openapi_documents_the_bearer_scheme_on_protected_routes(
    example_app: FastAPI,
) -> None:
    async with asgi_client(example_app) as client:
        document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["CognitoBearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"CognitoBearer": []}]
    # require_scope("orders/read") says its scope, as Security(..., scopes=...) does
    assert paths["/orders"]["get"]["security"] == [{"CognitoBearer": ["orders/read"]}]
    assert paths["/orders"]["post"]["security"] == [{"CognitoBearer": ["orders/write"]}]
    assert paths["/admin"]["get"]["security"] == [{"CognitoBearer": []}]
    assert "security" not in paths["/public"]["get"]
    # the dependencies' own parameters must not leak into the operation as query parameters
    assert "parameters" not in paths["/me"]["get"]


@pytest.mark.anyio
async def test_keys_unavailable_is_503_with_retry_after(
    example_app: FastAPI, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    async with asgi_client(example_app) as client:
        response = await client.get("/me", headers=bearer(cognito_issuer.access_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    assert cognito_jwks_server.request_count() >= 1


@pytest.mark.anyio
async def test_applications_can_reshape_the_answer(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier=cognito_verifier)

    @app.exception_handler(CognitoHTTPException)
    async def problem(request: Request, exc: CognitoHTTPException) -> JSONResponse:
        return JSONResponse(
            {"title": exc.answer.description, "kind": type(exc.error).__name__},
            exc.status_code,
            exc.headers,
        )

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {"sub": user.sub}

    async with asgi_client(app) as client:
        response = await client.get(
            "/me", headers=bearer(cognito_issuer.access_token(expires_in=-60))
        )
    assert response.status_code == 401
    assert response.json() == {"title": "The token has expired", "kind": "ExpiredTokenError"}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.anyio
async def test_a_dependency_without_cognito_guard_fails_loudly(
    cognito_issuer: LocalIssuer,
) -> None:
    app = FastAPI()

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {"sub": user.sub}

    async with asgi_client(app) as client:
        with pytest.raises(RuntimeError, match=r"CognitoGuard\(app"):
            await client.get("/me", headers=bearer(cognito_issuer.access_token()))


# -- WebSocket --------------------------------------------------------------------------------


@pytest.fixture
def ws_client(example_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(example_app) as client:
        yield client


def test_websocket_with_a_valid_token_is_accepted(
    ws_client: TestClient, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="ws-user")
    with ws_client.websocket_connect("/ws/orders", headers=bearer(token)) as websocket:
        assert websocket.receive_json() == {"user": "ws-user", "orders": []}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda issuer: None, "unauthorized"),
        (lambda issuer: "Bearer " + issuer.access_token(expires_in=-60), "invalid_token"),
        (lambda issuer: "Basic dXNlcjpwYXNz", "invalid_request"),
        (lambda issuer: "Bearer " + issuer.access_token(scopes=["openid"]), "insufficient_scope"),
    ],
    ids=["no-token", "expired", "malformed", "without-scope"],
)
def test_websocket_rejected_before_accept_with_1008(
    ws_client: TestClient, cognito_issuer: LocalIssuer, make: Any, reason: str
) -> None:
    authorization = make(cognito_issuer)
    headers = {} if authorization is None else {"Authorization": authorization}
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        ws_client.websocket_connect("/ws/orders", headers=headers),
    ):
        pass
    assert (caught.value.code, caught.value.reason) == (1008, reason)


def test_websocket_when_keys_are_unavailable_is_closed_with_1013(
    ws_client: TestClient, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    token = cognito_issuer.access_token(scopes=["orders/read"])
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        ws_client.websocket_connect("/ws/orders", headers=bearer(token)),
    ):
        pass
    assert (caught.value.code, caught.value.reason) == (1013, "temporarily_unavailable")


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_configuration_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", cognito_jwks_server.jwks_uri)
    monkeypatch.setenv("COGNITO_TOKEN_USE", "id")
    app = FastAPI()
    guard = CognitoGuard(app)

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {"email": user.email}

    async with asgi_client(app) as client:
        id_token = await client.get("/me", headers=bearer(cognito_issuer.id_token()))
        access = await client.get("/me", headers=bearer(cognito_issuer.access_token()))
    assert guard.verifier.token_use == "id"
    assert id_token.status_code == 200 and id_token.json() == {"email": "alice@example.com"}
    assert access.status_code == 401
    assert cognito_jwks_server.request_count() == 1


def test_missing_configuration_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoGuard(FastAPI())
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_LocalPool1")
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        load_example()


def test_invalid_configuration_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_env(monkeypatch)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_LocalPool1")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "local0client0id0123456789a")
    monkeypatch.setenv("COGNITO_TOKEN_USE", "refresh")
    with pytest.raises(ConfigurationError, match="COGNITO_TOKEN_USE"):
        CognitoGuard(FastAPI())
    monkeypatch.setenv("COGNITO_TOKEN_USE", "access")
    monkeypatch.setenv("COGNITO_JWKS_URI", "http://keys.example.com/jwks.json")
    with pytest.raises(ConfigurationError):
        CognitoGuard(FastAPI())


def test_require_scope_and_group_refuse_empty_names() -> None:
    from cognito_guard.integrations.starlette import require_group

    with pytest.raises(ConfigurationError):
        require_scope()
    with pytest.raises(ConfigurationError):
        require_group("")
