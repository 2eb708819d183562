"""The plain Starlette side of the adapter: auth backend, ``requires``, ``request.user``.

The reference app here uses CognitoGuard(app, authentication=True) and this adapter's
``requires``; Starlette's own ``requires`` is tested separately for what it can do.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires as starlette_requires
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.integrations.starlette import (
    CognitoAuthBackend,
    CognitoGuard,
    CognitoUser,
    cognito_user,
    cognito_user_optional,
    on_auth_error,
    require_group,
    requires,
)
from cognito_guard.integrations.starlette.dependencies import _fastapi_signature
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from ._testclient import TestClient
from .matrix import asgi_client, bearer


def claims_of(request: Request | WebSocket) -> Any:
    user = request.user
    assert isinstance(user, CognitoUser)
    return user.claims


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@requires()
async def me(request: Request) -> JSONResponse:
    claims = claims_of(request)
    return JSONResponse(
        {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}
    )


@requires("orders/read")
async def list_orders(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.identity, "orders": []})


@requires("orders/write")
async def create_order(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.identity, "created": True}, status_code=201)


@requires(groups="admins")
def admin(request: Request) -> JSONResponse:  # a sync endpoint, run in the thread pool
    return JSONResponse({"user": request.user.identity})


@starlette_requires("orders/read")
async def starlette_orders(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name, "auth": request.auth.scopes})


@starlette_requires("authenticated")
async def starlette_me(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.identity})


@requires("orders/read")
async def order_feed(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"user": websocket.user.identity})
    await websocket.close()


def reference_app(verifier: CognitoVerifier | None) -> Starlette:
    app = Starlette(
        routes=[
            Route("/public", public),
            Route("/me", me),
            Route("/orders", list_orders, methods=["GET"]),
            Route("/orders", create_order, methods=["POST"]),
            Route("/admin", admin),
            Route("/starlette/orders", starlette_orders),
            Route("/starlette/me", starlette_me),
            WebSocketRoute("/ws/orders", order_feed),
        ]
    )
    CognitoGuard(app, verifier=verifier, authentication=True)
    return app


@pytest.fixture
def app(cognito_verifier: CognitoVerifier) -> Starlette:
    return reference_app(cognito_verifier)


@pytest.mark.anyio
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
async def test_matrix(
    case: matrix.Case, app: Starlette, cognito_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    headers = matrix.headers_for(case, cognito_issuer, other_issuer)
    async with asgi_client(app) as client:
        response = await client.request(case.method, case.path, headers=headers)
    matrix.check(case, response.status_code, response.headers, response.json())


@pytest.mark.anyio
async def test_request_user_and_auth_scopes_come_from_the_token(
    app: Starlette, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read", "openid"], username="bob")
    async with asgi_client(app) as client:
        response = await client.get("/starlette/orders", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {"user": "bob", "auth": ["authenticated", "openid", "orders/read"]}


@pytest.mark.anyio
async def test_starlettes_own_requires_admits_by_token_scopes(
    app: Starlette, cognito_issuer: LocalIssuer
) -> None:
    async with asgi_client(app) as client:
        lacking = await client.get(
            "/starlette/orders",
            headers=bearer(cognito_issuer.access_token(scopes=["openid"])),
        )
        anonymous = await client.get("/starlette/me")
        known = await client.get(
            "/starlette/me", headers=bearer(cognito_issuer.access_token(sub="s-1"))
        )
    # Starlette's decorator answers a bare 403 of its own (no challenge): the documented limit
    # that this adapter's requires() lifts.
    assert lacking.status_code == 403
    assert "www-authenticate" not in lacking.headers
    assert anonymous.status_code == 403
    assert known.status_code == 200 and known.json() == {"user": "s-1"}


@pytest.mark.anyio
async def test_keys_unavailable_is_503_with_retry_after(
    app: Starlette, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(cognito_issuer.access_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"


# -- without the authentication backend ---------------------------------------------------------


async def awaited_me(request: Request) -> JSONResponse:
    claims = await cognito_user(request)
    return JSONResponse({"sub": claims.sub})


async def awaited_optional(request: Request) -> JSONResponse:
    claims = await cognito_user_optional(request)
    return JSONResponse({"sub": None if claims is None else claims.sub})


async def awaited_admin(request: Request) -> JSONResponse:
    claims = await require_group("admins")(request)
    return JSONResponse({"sub": claims.sub})


@pytest.mark.anyio
async def test_dependencies_can_be_awaited_in_plain_starlette_endpoints(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = Starlette(
        routes=[
            Route("/me", awaited_me),
            Route("/maybe", awaited_optional),
            Route("/admin", awaited_admin),
        ]
    )
    CognitoGuard(app, verifier=cognito_verifier)
    async with asgi_client(app) as client:
        me_ok = await client.get("/me", headers=bearer(cognito_issuer.access_token(sub="s-2")))
        me_missing = await client.get("/me")
        maybe = await client.get("/maybe")
        admin_denied = await client.get(
            "/admin", headers=bearer(cognito_issuer.access_token(groups=["staff"]))
        )
    assert me_ok.json() == {"sub": "s-2"}
    assert me_missing.status_code == 401
    assert me_missing.headers["www-authenticate"] == "Bearer"
    assert me_missing.json()["error"] == "unauthorized"
    assert maybe.json() == {"sub": None}
    assert admin_denied.status_code == 403
    assert admin_denied.json()["error"] == "insufficient_scope"


@pytest.mark.anyio
async def test_backend_middleware_built_by_hand(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = Starlette(
        routes=[Route("/me", starlette_me)],
        middleware=[
            Middleware(
                AuthenticationMiddleware,
                backend=CognitoAuthBackend(cognito_verifier, realm="orders-api"),
                on_error=on_auth_error,
            )
        ],
    )
    async with asgi_client(app) as client:
        ok = await client.get("/me", headers=bearer(cognito_issuer.access_token(sub="s-3")))
        bad = await client.get("/me", headers=bearer(cognito_issuer.access_token(expires_in=-9)))
    assert ok.json() == {"user": "s-3"}
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith('Bearer realm="orders-api", error=')
    assert bad.json()["error"] == "invalid_token"


# -- WebSocket --------------------------------------------------------------------------------


@pytest.fixture
def ws_client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_websocket_with_a_valid_token_is_accepted(
    ws_client: TestClient, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="ws-1")
    with ws_client.websocket_connect("/ws/orders", headers=bearer(token)) as websocket:
        assert websocket.receive_json() == {"user": "ws-1"}


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda issuer: None, 1008),
        (lambda issuer: "Bearer " + issuer.access_token(scopes=["openid"]), 1008),
        # a bad token is refused by Starlette's AuthenticationMiddleware itself, with 1000
        (lambda issuer: "Bearer " + issuer.access_token(expires_in=-60), 1000),
    ],
    ids=["no-token", "without-scope", "expired"],
)
def test_websocket_rejected_before_accept(
    ws_client: TestClient, cognito_issuer: LocalIssuer, make: Any, code: int
) -> None:
    authorization = make(cognito_issuer)
    headers = {} if authorization is None else {"Authorization": authorization}
    with (
        pytest.raises(WebSocketDisconnect) as caught,
        ws_client.websocket_connect("/ws/orders", headers=headers),
    ):
        pass
    assert caught.value.code == code


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_configuration_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    for name in ("TOKEN_USE", "ISSUER", "SCOPES", "GROUPS", "LEEWAY", "ALLOW_ANY_CLIENT"):
        monkeypatch.delenv("COGNITO_" + name, raising=False)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_JWKS_URI", cognito_jwks_server.jwks_uri)
    app = reference_app(None)
    async with asgi_client(app) as client:
        response = await client.get(
            "/orders", headers=bearer(cognito_issuer.access_token(scopes=["orders/read"]))
        )
    assert response.status_code == 200
    assert cognito_jwks_server.request_count() == 1


def test_missing_configuration_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)
    monkeypatch.delenv("COGNITO_ISSUER", raising=False)
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoGuard(Starlette(), authentication=True)
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoAuthBackend()


def test_requires_needs_a_request_or_websocket_parameter() -> None:
    async def endpoint(req: Request) -> JSONResponse:
        return JSONResponse({})

    with pytest.raises(TypeError, match="request"):
        requires("orders/read")(endpoint)


# -- without FastAPI ----------------------------------------------------------------------------


def test_importing_the_adapter_does_not_import_fastapi() -> None:
    code = (
        "import sys\n"
        "import cognito_guard.integrations.starlette\n"
        "assert 'fastapi' not in sys.modules, 'fastapi was imported'\n"
        "sys.modules['fastapi'] = None  # what an absent package looks like to import\n"
        "import inspect\n"
        "from cognito_guard.integrations.starlette import cognito_user\n"
        "assert list(inspect.signature(cognito_user).parameters) == "
        "['request', 'security_scopes', 'bearer']\n"
    )
    result = subprocess.run(  # noqa: S603 - a fixed script run by this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.anyio
async def test_starlette_parts_work_when_fastapi_is_absent(
    monkeypatch: pytest.MonkeyPatch, cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)
    monkeypatch.setitem(sys.modules, "fastapi.security", None)
    _fastapi_signature.cache_clear()
    try:
        assert inspect.signature(cognito_user).parameters["bearer"].default is None
        app = reference_app(cognito_verifier)
        app.router.routes.append(Route("/awaited", awaited_me))
        token = cognito_issuer.access_token(scopes=["orders/read"], sub="no-fastapi")
        async with asgi_client(app) as client:
            orders = await client.get("/orders", headers=bearer(token))
            awaited = await client.get("/awaited", headers=bearer(token))
            missing = await client.get("/awaited")
    finally:
        _fastapi_signature.cache_clear()
    assert orders.status_code == 200 and orders.json()["user"] == "no-fastapi"
    assert awaited.json() == {"sub": "no-fastapi"}
    assert missing.status_code == 401
