"""The plain WSGI middleware: the matrix (werkzeug's test client and a real wsgiref server),
path rules, open paths, configuration and the 503 answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from werkzeug.test import Client

from cognito_guard import CognitoVerifier, ConfigurationError, KeyPolicy
from cognito_guard.bearer import Requirement
from cognito_guard.claims import CognitoClaims
from cognito_guard.integrations.wsgi import CLAIMS_KEY, CognitoWSGIMiddleware
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix
from .matrix import bearer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

REFERENCE_RULES: dict[str, Requirement | None] = {
    "/me": Requirement(),
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "/admin": Requirement.of(groups="admins"),
}


def reference_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The matrix's reference app as a bare WSGI callable reading the middleware's claims."""
    claims: CognitoClaims | None = environ[CLAIMS_KEY]
    route = (environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/")
    status, body = "200 OK", None
    if route == ("GET", "/public"):
        body = {"ok": True, "user": claims.sub if claims else None}
    elif claims is not None and route == ("GET", "/me"):
        body = {"sub": claims.sub, "username": claims.username, "scopes": sorted(claims.scopes)}
    elif claims is not None and route == ("GET", "/orders"):
        body = {"user": claims.sub, "orders": []}
    elif claims is not None and route == ("POST", "/orders"):
        status, body = "201 Created", {"user": claims.sub, "created": True}
    elif claims is not None and route == ("GET", "/admin"):
        body = {"user": claims.sub}
    else:
        status, body = "404 Not Found", {"error": "not_found"}
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def echo_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Says what reached the application: the claims' sub."""
    claims = environ[CLAIMS_KEY]
    data = json.dumps({"user": claims.sub if claims else None}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("USER_POOL_ID", "CLIENT_ID", "TOKEN_USE", "JWKS_URI", "ISSUER", "SCOPES"):
        monkeypatch.delenv("COGNITO_" + name, raising=False)


@pytest.fixture(scope="module")
def matrix_issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def matrix_server(matrix_issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with matrix_issuer.serve() as server:
        yield server


# -- the behaviour matrix -----------------------------------------------------------------------


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_through_werkzeug_client(
    case: matrix.Case,
    matrix_issuer: LocalIssuer,
    matrix_server: JWKSServer,
    other_issuer: LocalIssuer,
) -> None:
    verifier = matrix_issuer.verifier(jwks_uri=matrix_server.jwks_uri)
    client = Client(CognitoWSGIMiddleware(reference_app, verifier, protect=REFERENCE_RULES))
    headers = matrix.headers_for(case, matrix_issuer, other_issuer)
    response = client.open(case.path, method=case.method, headers=headers)
    matrix.check(case, response.status_code, response.headers, response.get_json())


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # wsgiref logs every request to stderr


@contextmanager
def wsgiref_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with the standard library's wsgiref on 127.0.0.1 (a free port)."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive(), "wsgiref did not stop"


@pytest.fixture(scope="module")
def real_server_url(matrix_issuer: LocalIssuer, matrix_server: JWKSServer) -> Iterator[str]:
    verifier = matrix_issuer.verifier(jwks_uri=matrix_server.jwks_uri)
    with wsgiref_server(
        CognitoWSGIMiddleware(reference_app, verifier, protect=REFERENCE_RULES)
    ) as url:
        yield url


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_through_a_real_wsgi_server(
    case: matrix.Case, real_server_url: str, matrix_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    headers = matrix.headers_for(case, matrix_issuer, other_issuer)
    response = httpx.request(case.method, real_server_url + case.path, headers=headers, timeout=10)
    matrix.check(case, response.status_code, response.headers, response.json())


def test_two_authorization_headers_through_a_real_server(
    real_server_url: str, matrix_issuer: LocalIssuer
) -> None:
    token = matrix_issuer.access_token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    response = httpx.get(real_server_url + "/me", headers=headers, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "eyJ" not in response.text


# -- rules --------------------------------------------------------------------------------------


@pytest.fixture
def verifier(cognito_issuer: LocalIssuer) -> CognitoVerifier:
    return cognito_issuer.verifier()  # preloaded JWKS: no network


def test_default_protects_every_path(verifier: CognitoVerifier) -> None:
    client = Client(CognitoWSGIMiddleware(echo_app, verifier))
    for path in ("/", "/public", "/anything/at/all"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_explicitly_public_rules_protect_nothing(
    verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    client = Client(CognitoWSGIMiddleware(echo_app, verifier, protect={"/": None}))
    token = cognito_issuer.access_token()
    assert client.get("/x").get_json() == {"user": None}
    assert client.get("/x", headers=bearer(token)).get_json() == {"user": None}


def test_public_paths_pass_through_untouched(
    verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    client = Client(CognitoWSGIMiddleware(echo_app, verifier, protect={"/api": Requirement()}))
    expired = cognito_issuer.access_token(expires_in=-60)
    response = client.get("/open", headers=bearer(expired))
    assert response.status_code == 200
    assert response.get_json() == {"user": None}
    response = client.get("/open", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 200
    assert client.get("/api", headers=bearer(expired)).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/orders", 403),  # needs orders/read, the token has orders/write
        ("GET", "/orders/7", 403),  # prefixes match below themselves
        ("HEAD", "/orders", 403),  # a GET rule covers HEAD
        ("POST", "/orders", 200),  # the POST rule wins over the method-less one
        ("PUT", "/orders", 401),  # no PUT rule: "/orders" needs a valid token, none sent
        ("GET", "/orders-archive", 200),  # not below /orders: only the open "/" rule
        ("GET", "//orders", 400),  # empty segments are refused before any rule
        ("GET", "/admin", 401),  # "/" protects by default...
        ("GET", "/admin/public", 200),  # ...a longer open prefix wins
        ("GET", "/admin/public/../secret", 400),  # and so are dot segments
        ("GET", "/admin/public/%2e%2e/secret", 400),  # percent-encoded ones too
        ("GET", "/admin/public/", 200),  # a trailing slash is no empty segment
    ],
)
def test_prefix_rules(
    method: str, path: str, status: int, verifier: CognitoVerifier, cognito_issuer: LocalIssuer
) -> None:
    rules: dict[str, Requirement | None] = {
        "/": None,
        "/admin": Requirement(),
        "/admin/public/": None,
        "/orders": Requirement(),
        "GET /orders": Requirement.of(scopes="orders/read"),
        "post /orders": Requirement.of(scopes="orders/write"),
    }
    client = Client(CognitoWSGIMiddleware(echo_app, verifier, protect=rules))
    writer = cognito_issuer.access_token(scopes=["orders/write"])
    headers = {} if status == 401 else bearer(writer)
    # PATH_INFO set directly: a client would read "//orders" as a host name.
    response = client.open(method=method, headers=headers, environ_overrides={"PATH_INFO": path})
    assert response.status_code == status
    if status == 403:
        assert 'scope="orders/read"' in response.headers["WWW-Authenticate"]
    if status == 400:
        assert response.get_json()["error"] == "invalid_request"
        assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize(
    "rules",
    [
        {"orders": Requirement()},  # not a path
        {"GET POST /orders": Requirement()},  # one method per rule
        {"/orders": ("orders/read",)},  # not a Requirement
        {"/orders": Requirement(), "/orders/": None},  # the same paths twice
    ],
)
def test_invalid_rules_fail_at_start_up(rules: Any, verifier: CognitoVerifier) -> None:
    with pytest.raises(ConfigurationError, match="protect"):
        CognitoWSGIMiddleware(echo_app, verifier, protect=rules)


def test_requirement_of_the_wrong_type_fails_at_start_up(verifier: CognitoVerifier) -> None:
    with pytest.raises(ConfigurationError, match="protect must be"):
        CognitoWSGIMiddleware(echo_app, verifier, protect=42)  # type: ignore[arg-type]


def test_realm_is_in_the_challenge(verifier: CognitoVerifier) -> None:
    client = Client(CognitoWSGIMiddleware(echo_app, verifier, realm="orders-api"))
    response = client.get("/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'
    assert response.headers["Content-Length"] == str(len(response.get_data()))


# -- configuration and outages ------------------------------------------------------------------


def test_verifier_from_env(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", cognito_issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", cognito_issuer.client_id)
    monkeypatch.setenv("COGNITO_TOKEN_USE", "access")
    monkeypatch.setenv("COGNITO_JWKS_URI", cognito_jwks_server.jwks_uri)
    middleware = CognitoWSGIMiddleware(echo_app)
    assert middleware.guard.verifier.client_ids == {cognito_issuer.client_id}
    response = Client(middleware).get("/", headers=bearer(cognito_issuer.access_token()))
    assert response.status_code == 200
    assert cognito_jwks_server.request_count() == 1


def test_missing_env_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoWSGIMiddleware(echo_app)


def test_invalid_env_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_Pool1")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "abc")
    monkeypatch.setenv("COGNITO_TOKEN_USE", "refresh")
    with pytest.raises(ConfigurationError, match="COGNITO_TOKEN_USE"):
        CognitoWSGIMiddleware(echo_app)


def test_jwks_down_answers_503_through_a_real_server(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    verifier = cognito_issuer.verifier(
        jwks_uri=cognito_jwks_server.jwks_uri, key_policy=KeyPolicy(backoff_initial=5)
    )
    token = cognito_issuer.access_token()
    app = CognitoWSGIMiddleware(echo_app, verifier, protect={"/api": Requirement()})
    with wsgiref_server(app) as url:
        response = httpx.get(url + "/api", headers=bearer(token), timeout=10)
        public = httpx.get(url + "/open", headers=bearer(token), timeout=10)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    # An open path is not touched by the guard, so the outage does not reach it.
    assert public.status_code == 200
    assert public.json() == {"user": None}
