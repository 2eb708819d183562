"""CognitoASGIMiddleware in front of a framework-less ASGI app serving the reference routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from cognito_guard import CognitoClaims, CognitoVerifier, ConfigurationError
from cognito_guard.bearer import Requirement
from cognito_guard.integrations.asgi import CLAIMS_KEY, CognitoASGIMiddleware
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from ._testclient import TestClient
from .matrix import asgi_client, bearer

PROTECT: dict[str, Requirement | None] = {
    "/": Requirement(),
    "/public": None,
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "/admin": Requirement.of(groups="admins"),
    "WEBSOCKET /ws/orders": Requirement.of(scopes="orders/read"),
}


async def reference_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The reference routes in raw ASGI: what any other ASGI framework would see."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    claims: CognitoClaims | None = scope.get(CLAIMS_KEY)
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        assert claims is not None
        await send({"type": "websocket.send", "text": json.dumps({"user": claims.sub})})
        await send({"type": "websocket.close", "code": 1000})
        return
    route = (scope["method"], scope["path"])
    status, body = 404, {"error": "not_found"}
    if route == ("GET", "/public"):
        status, body = 200, {"ok": True, "claims": claims is not None}
    elif claims is not None and route == ("GET", "/me"):
        status = 200
        body = {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}
    elif claims is not None and route in (("GET", "/orders"), ("GET", "/admin")):
        status, body = 200, {"user": claims.sub, "orders": []}
    elif claims is not None and route == ("POST", "/orders"):
        status, body = 201, {"user": claims.sub, "created": True}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@pytest.fixture
def app(cognito_verifier: CognitoVerifier) -> CognitoASGIMiddleware:
    return CognitoASGIMiddleware(reference_app, cognito_verifier, protect=PROTECT)


@pytest.mark.anyio
@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
async def test_matrix(
    case: matrix.Case,
    app: CognitoASGIMiddleware,
    cognito_issuer: LocalIssuer,
    other_issuer: LocalIssuer,
) -> None:
    headers = matrix.headers_for(case, cognito_issuer, other_issuer)
    async with asgi_client(app) as client:
        response = await client.request(case.method, case.path, headers=headers)
    matrix.check(case, response.status_code, response.headers, response.json())
    if response.status_code >= 400:
        assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.anyio
async def test_the_app_finds_the_claims_in_the_scope(
    app: CognitoASGIMiddleware, cognito_issuer: LocalIssuer
) -> None:
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(cognito_issuer.access_token(sub="s")))
    assert response.json() == {"sub": "s", "username": "alice", "scopes": ["email", "openid"]}


@pytest.mark.anyio
async def test_public_paths_pass_through_unverified(app: CognitoASGIMiddleware) -> None:
    async with asgi_client(app) as client:
        response = await client.get("/public", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 200
    assert response.json() == {"ok": True, "claims": False}


async def sent_for(
    app: CognitoASGIMiddleware, path: str, root_path: str = "", kind: str = "http"
) -> list[dict[str, Any]]:
    """Call the middleware with a scope built by hand: HTTP clients tidy such paths up first."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if kind == "websocket":
            return {"type": "websocket.connect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": kind,
        "method": "GET",
        "path": path,
        "root_path": root_path,
        "headers": [],
        "query_string": b"",
    }
    await app(scope, receive, send)
    return sent


async def status_for(app: CognitoASGIMiddleware, path: str, root_path: str = "") -> int:
    return int((await sent_for(app, path, root_path))[0]["status"])


@pytest.fixture
def prefix_only(cognito_verifier: CognitoVerifier) -> CognitoASGIMiddleware:
    # no deny-by-default "/" rule here: only the prefix rules stand between a path and the app
    return CognitoASGIMiddleware(
        reference_app,
        cognito_verifier,
        protect={"/orders": Requirement(), "/admin": Requirement(), "/public": None},
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "//orders",
        "/public/../orders",
        "/public/./../admin",
        "/orders/..",
        "/public/%2e%2e/orders",
        "/public%2F..%2Forders",
        "orders",
    ],
)
async def test_disguised_paths_are_refused_before_any_rule(
    prefix_only: CognitoASGIMiddleware, path: str
) -> None:
    (start, body) = await sent_for(prefix_only, path)
    assert start["status"] == 400
    assert json.loads(body["body"])["error"] == "invalid_request"
    assert await status_for(prefix_only, "/public") == 200


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/orders", "/orders/", "/orders/42", "/admin/.well-known"])
async def test_clean_paths_meet_their_rule(prefix_only: CognitoASGIMiddleware, path: str) -> None:
    assert await status_for(prefix_only, path) == 401


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [
        ("/api/admin/users", "/api", 401),  # the server put the root path in scope["path"]
        ("/admin/users", "/api", 401),  # the server left it out
        # 404: public, so the reference app answers, and it has no such route
        ("/api", "/api", 404),  # the mount point itself is "/"
        ("/apiadmin", "/api", 404),  # not below the root path on a segment boundary
        ("/api/public/../admin", "/api", 400),
    ],
)
async def test_rules_match_the_path_below_the_root_path(
    cognito_verifier: CognitoVerifier, path: str, root_path: str, status: int
) -> None:
    app = CognitoASGIMiddleware(reference_app, cognito_verifier, protect={"/admin": Requirement()})
    assert await status_for(app, path, root_path) == status


@pytest.mark.anyio
async def test_a_websocket_on_a_disguised_path_is_closed_before_accept(
    app: CognitoASGIMiddleware,
) -> None:
    sent = await sent_for(app, "/public/../ws/orders", kind="websocket")
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid_request"}]


@pytest.mark.anyio
async def test_head_is_held_to_the_get_rule(
    app: CognitoASGIMiddleware, cognito_issuer: LocalIssuer
) -> None:
    async with asgi_client(app) as client:
        response = await client.head(
            "/orders", headers=bearer(cognito_issuer.access_token(scopes=["openid"]))
        )
    assert response.status_code == 403
    assert 'scope="orders/read"' in response.headers["www-authenticate"]


@pytest.mark.anyio
async def test_keys_unavailable_is_503_with_retry_after(
    app: CognitoASGIMiddleware, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(cognito_issuer.access_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"] == "temporarily_unavailable"


def test_rules_longest_prefix_and_method_specific_win(cognito_verifier: CognitoVerifier) -> None:
    read, write, admins = (
        Requirement.of(scopes="orders/read"),
        Requirement.of(scopes="orders/write"),
        Requirement.of(groups="admins"),
    )
    middleware = CognitoASGIMiddleware(
        reference_app,
        cognito_verifier,
        protect={"/orders": read, "post /orders": write, "/orders/admin": admins, "/": None},
    )
    rule = middleware.rules.requirement_for
    assert rule("GET", "/orders") is read
    assert rule("POST", "/orders/7") is write
    assert rule("POST", "/orders/admin/x") is admins
    assert rule("GET", "/orders-archive") is None
    assert rule("GET", "/") is None
    assert rule("DELETE", "/orders") is read


def test_without_protect_every_path_needs_a_token(cognito_verifier: CognitoVerifier) -> None:
    middleware = CognitoASGIMiddleware(reference_app, cognito_verifier)
    assert middleware.rules.requirement_for("GET", "/anything") == Requirement()


@pytest.mark.parametrize(
    "protect",
    [{"orders": Requirement()}, {"GET orders /x": Requirement()}, {"/x": "orders/read"}],
)
def test_bad_rules_fail_at_start_up(cognito_verifier: CognitoVerifier, protect: Any) -> None:
    with pytest.raises(ConfigurationError, match="protect"):
        CognitoASGIMiddleware(reference_app, cognito_verifier, protect=protect)


# -- WebSocket and lifespan -------------------------------------------------------------------


@pytest.fixture
def ws_client(app: CognitoASGIMiddleware) -> Iterator[TestClient]:
    with TestClient(app) as client:  # runs the lifespan through the middleware
        yield client


def test_websocket_with_a_valid_token_is_accepted(
    ws_client: TestClient, cognito_issuer: LocalIssuer
) -> None:
    token = cognito_issuer.access_token(scopes=["orders/read"], sub="ws-2")
    with ws_client.websocket_connect("/ws/orders", headers=bearer(token)) as websocket:
        assert websocket.receive_json() == {"user": "ws-2"}


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda issuer: None, "unauthorized"),
        (lambda issuer: "Bearer not.a.jwt", "invalid_token"),
        (lambda issuer: "Bearer " + issuer.access_token(scopes=["openid"]), "insufficient_scope"),
    ],
    ids=["no-token", "garbage", "without-scope"],
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
    app = CognitoASGIMiddleware(reference_app, protect=PROTECT)
    async with asgi_client(app) as client:
        response = await client.get(
            "/orders", headers=bearer(cognito_issuer.access_token(scopes=["orders/read"]))
        )
    assert response.status_code == 200
    assert cognito_jwks_server.request_count() == 1


def test_missing_configuration_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_LocalPool1")
    monkeypatch.delenv("COGNITO_CLIENT_ID", raising=False)
    monkeypatch.delenv("COGNITO_ALLOW_ANY_CLIENT", raising=False)
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        CognitoASGIMiddleware(reference_app)
