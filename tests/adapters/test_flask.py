"""The Flask integration through Flask's test client: the matrix, errors, config, async views."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from flask import Flask
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    ServiceUnavailable,
    Unauthorized,
)

from cognito_guard import CognitoVerifier, ConfigurationError, KeyPolicy
from cognito_guard.integrations.flask import (
    CognitoBadRequest,
    CognitoForbidden,
    CognitoGuard,
    CognitoHTTPException,
    CognitoUnauthorized,
    CognitoUnavailable,
    CognitoUsageError,
    aget_cognito_user,
    current_cognito_user,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.testing import JWKSServer, LocalIssuer

from . import matrix

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_app.py"
COGNITO_ENV = (
    "COGNITO_USER_POOL_ID",
    "COGNITO_CLIENT_ID",
    "COGNITO_TOKEN_USE",
    "COGNITO_JWKS_URI",
    "COGNITO_ISSUER",
    "COGNITO_SCOPES",
    "COGNITO_GROUPS",
    "COGNITO_LEEWAY",
    "COGNITO_ALLOW_ANY_CLIENT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No COGNITO_* variable of the machine running the tests leaks into them."""
    for name in COGNITO_ENV:
        monkeypatch.delenv(name, raising=False)


def set_env(monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, server: JWKSServer) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_TOKEN_USE", "access")
    monkeypatch.setenv("COGNITO_JWKS_URI", server.jwks_uri)


def load_example() -> ModuleType:
    """A fresh import of examples/flask_app.py (its module-level app reads the environment)."""
    spec = importlib.util.spec_from_file_location("flask_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def async_reference_app(verifier: CognitoVerifier) -> Flask:
    """The matrix's reference app with async views (Flask runs each in a fresh event loop)."""
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/me")
    @require_auth
    async def me() -> dict[str, Any]:
        return {
            "sub": current_cognito_user.sub,
            "username": current_cognito_user.username,
            "scopes": sorted(current_cognito_user.scopes),
        }

    @app.get("/orders")
    @require_scope("orders/read")
    async def list_orders() -> dict[str, Any]:
        return {"user": current_cognito_user.sub, "orders": []}

    @app.post("/orders")
    @require_scope("orders/write")
    async def create_order() -> tuple[dict[str, Any], int]:
        return {"user": current_cognito_user.sub, "created": True}, 201

    @app.get("/admin")
    @require_group("admins")
    async def admin() -> dict[str, Any]:
        return {"user": current_cognito_user.sub}

    return app


def run_case(app: Flask, case: matrix.Case, issuer: LocalIssuer, other: LocalIssuer) -> None:
    headers = matrix.headers_for(case, issuer, other)
    response = app.test_client().open(case.path, method=case.method, headers=headers)
    matrix.check(case, response.status_code, response.headers, response.get_json())


# -- the behaviour matrix -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def matrix_issuer(cognito_signing_keys: list[RSAPrivateKey]) -> LocalIssuer:
    """One pool for the whole matrix, so one JWKS server serves every case."""
    return LocalIssuer(keys=cognito_signing_keys)


@pytest.fixture(scope="module")
def matrix_server(matrix_issuer: LocalIssuer) -> Iterator[JWKSServer]:
    with matrix_issuer.serve() as server:
        yield server


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_sync_views_configured_from_env(
    case: matrix.Case,
    matrix_issuer: LocalIssuer,
    matrix_server: JWKSServer,
    other_issuer: LocalIssuer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_env(monkeypatch, matrix_issuer, matrix_server)
    caplog.set_level(logging.DEBUG)
    run_case(load_example().app, case, matrix_issuer, other_issuer)
    assert "eyJ" not in caplog.text, "a token was logged"


@pytest.mark.parametrize("case", matrix.CASES, ids=lambda case: case.id)
def test_matrix_async_views(
    case: matrix.Case,
    matrix_issuer: LocalIssuer,
    matrix_server: JWKSServer,
    other_issuer: LocalIssuer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = matrix_issuer.verifier(jwks_uri=matrix_server.jwks_uri)
    run_case(async_reference_app(verifier), case, matrix_issuer, other_issuer)
    assert "eyJ" not in caplog.text, "a token was logged"


def test_several_authorization_headers_are_invalid_request(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = load_app(cognito_verifier)
    token = cognito_issuer.access_token(scopes=["openid"])
    response = app.test_client().get(
        "/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def load_app(verifier: CognitoVerifier) -> Flask:
    """The example's reference app (sync views) around ``verifier``."""
    app: Flask = load_example_factory()(verifier=verifier)
    return app


def load_example_factory() -> Any:
    # The example builds its module-level app from the environment on import; give it a
    # throwaway configuration so the factory can be reached without one.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COGNITO_USER_POOL_ID", "us-east-1_Throwaway1")
        patch.setenv("COGNITO_CLIENT_ID", "throwaway")
        return load_example().create_app


# -- werkzeug exceptions --------------------------------------------------------------------


def test_rejections_are_werkzeug_http_exceptions() -> None:
    assert issubclass(CognitoUnauthorized, Unauthorized)
    assert issubclass(CognitoForbidden, Forbidden)
    assert issubclass(CognitoBadRequest, BadRequest)
    assert issubclass(CognitoUnavailable, ServiceUnavailable)
    for cls in (CognitoUnauthorized, CognitoForbidden, CognitoBadRequest, CognitoUnavailable):
        assert issubclass(cls, CognitoHTTPException) and issubclass(cls, HTTPException)


def test_errorhandler_receives_the_answer_and_reshapes_the_401(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = load_app(cognito_verifier)
    seen: list[HTTPException] = []

    @app.errorhandler(401)
    def unauthorized(exc: HTTPException) -> Any:
        seen.append(exc)
        assert isinstance(exc, CognitoHTTPException)
        return {"message": exc.answer.description, "code": exc.answer.error}, 401, exc.get_headers()

    client = app.test_client()
    expired = cognito_issuer.access_token(scopes=["orders/read"], expires_in=-60)
    response = client.get("/orders", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.get_json() == {"message": "The token has expired", "code": "invalid_token"}
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert isinstance(seen[0], CognitoUnauthorized)
    assert type(seen[0].error).__name__ == "ExpiredTokenError"

    # A 403 has no 401 handler: it keeps the shared JSON answer.
    token = cognito_issuer.access_token(scopes=["openid"])
    response = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    assert len(seen) == 1


def test_exception_response_is_the_json_answer(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = load_app(cognito_verifier)
    caught: list[CognitoHTTPException] = []

    @app.errorhandler(CognitoHTTPException)
    def keep(exc: CognitoHTTPException) -> Any:
        caught.append(exc)
        return exc.get_response()

    response = app.test_client().get("/me")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json() == {
        "error": "unauthorized",
        "error_description": "A bearer token is required",
    }
    assert caught[0].code == 401


# -- keys unavailable -----------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_jwks_down_answers_503_with_retry_after(
    flavour: str, cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.status = 500
    verifier = cognito_issuer.verifier(
        jwks_uri=cognito_jwks_server.jwks_uri, key_policy=KeyPolicy(backoff_initial=7)
    )
    app = load_app(verifier) if flavour == "sync" else async_reference_app(verifier)
    token = cognito_issuer.access_token(scopes=["orders/read"])
    response = app.test_client().get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert "eyJ" not in response.get_data(as_text=True)
    assert cognito_jwks_server.request_count() >= 1


# -- configuration --------------------------------------------------------------------------


def test_config_from_app_config(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    app = load_example_factory()(
        {
            "COGNITO_USER_POOL_ID": cognito_issuer.user_pool_id,
            "COGNITO_CLIENT_ID": cognito_issuer.client_id,
            "COGNITO_TOKEN_USE": "access",
            "COGNITO_JWKS_URI": cognito_jwks_server.jwks_uri,
        }
    )
    verifier = app.extensions["cognito_guard"].verifier
    assert verifier.issuers[0].endswith(cognito_issuer.user_pool_id)
    token = cognito_issuer.access_token(scopes=["orders/read"])
    response = app.test_client().get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert cognito_jwks_server.request_count() == 1


def test_config_from_env(
    cognito_issuer: LocalIssuer,
    cognito_jwks_server: JWKSServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_env(monkeypatch, cognito_issuer, cognito_jwks_server)
    app = Flask(__name__)
    CognitoGuard(app)
    verifier = CognitoGuard.verifier(app)
    assert verifier.client_ids == {cognito_issuer.client_id}
    assert verifier.token_use == "access"
    assert verifier.issuers[0].endswith(cognito_issuer.user_pool_id)


def test_id_tokens_from_config(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    app = Flask(__name__)
    app.config.update(
        COGNITO_USER_POOL_ID=cognito_issuer.user_pool_id,
        COGNITO_CLIENT_ID=cognito_issuer.client_id,
        COGNITO_TOKEN_USE="id",
        COGNITO_JWKS_URI=cognito_jwks_server.jwks_uri,
    )
    CognitoGuard(app)

    @app.get("/me")
    @require_auth()
    def me() -> dict[str, Any]:
        return {"email": current_cognito_user.email}

    client = app.test_client()
    id_token = cognito_issuer.id_token()
    access = cognito_issuer.access_token()
    assert client.get("/me", headers={"Authorization": f"Bearer {id_token}"}).json == {
        "email": "alice@example.com"
    }
    assert client.get("/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401


def test_missing_config_fails_at_start_up() -> None:
    app = Flask(__name__)
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        CognitoGuard(app)
    assert "cognito_guard" not in app.extensions


def test_invalid_config_fails_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Flask(__name__)
    app.config.update(COGNITO_USER_POOL_ID="us-east-1_Pool1", COGNITO_CLIENT_ID="abc")
    app.config["COGNITO_TOKEN_USE"] = "refresh"
    with pytest.raises(ConfigurationError, match=r"app\.config\['COGNITO_TOKEN_USE'\]"):
        CognitoGuard(app)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "not-a-pool-id")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "abc")
    with pytest.raises(ConfigurationError, match="environment"):
        CognitoGuard(Flask(__name__))


def test_half_config_in_app_config_is_not_replaced_by_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_FromEnv11")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "from-env")
    app = Flask(__name__)
    app.config["COGNITO_CLIENT_ID"] = "from-app-config"
    with pytest.raises(ConfigurationError, match=r"app\.config\['COGNITO_USER_POOL_ID'\]"):
        CognitoGuard(app)


def test_the_example_refuses_to_start_without_config() -> None:
    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        load_example()


def test_one_guard_init_app_on_several_apps_with_their_own_pools(
    cognito_issuer: LocalIssuer, other_issuer: LocalIssuer
) -> None:
    guard = CognitoGuard()  # the application-factory pattern: one extension, several apps
    with cognito_issuer.serve() as first_server, other_issuer.serve() as second_server:
        apps: list[Flask] = []
        for issuer, server in ((cognito_issuer, first_server), (other_issuer, second_server)):
            app = Flask(__name__)
            app.config.update(
                COGNITO_USER_POOL_ID=issuer.user_pool_id,
                COGNITO_CLIENT_ID=issuer.client_id,
                COGNITO_JWKS_URI=server.jwks_uri,
            )
            guard.init_app(app)

            @app.get("/me")
            @require_auth
            def me() -> dict[str, Any]:
                return {"iss": current_cognito_user.issuer}

            apps.append(app)
        first, second = (app.test_client() for app in apps)
        token = cognito_issuer.access_token()
        other = other_issuer.access_token()
        assert first.get("/me", headers={"Authorization": f"Bearer {token}"}).json == {
            "iss": cognito_issuer.issuer
        }
        assert first.get("/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
        assert second.get("/me", headers={"Authorization": f"Bearer {other}"}).json == {
            "iss": other_issuer.issuer
        }
        assert second.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert CognitoGuard.verifier(apps[0]) is not CognitoGuard.verifier(apps[1])


def test_decorated_view_without_the_extension_is_a_clear_error() -> None:
    app = Flask(__name__)
    app.testing = True  # let the error reach the test instead of becoming a 500

    @app.get("/me")
    @require_auth
    def me() -> dict[str, Any]:
        return {}

    with pytest.raises(ConfigurationError, match=r"CognitoGuard\(app\)"):
        app.test_client().get("/me", headers={"Authorization": "Bearer abc"})


def test_realm_is_in_the_challenge(cognito_verifier: CognitoVerifier) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=cognito_verifier, realm="orders-api")

    @app.get("/me")
    @require_auth
    def me() -> dict[str, Any]:
        return {}

    response = app.test_client().get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders-api"'


# -- on-demand authentication ---------------------------------------------------------------


@pytest.fixture
def counting_verifier(
    cognito_verifier: CognitoVerifier, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, int]]:
    calls = {"verify": 0, "averify": 0}
    verify, averify = cognito_verifier.verify, cognito_verifier.averify

    def counted_verify(token: str) -> Any:
        calls["verify"] += 1
        return verify(token)

    async def counted_averify(token: str) -> Any:
        calls["averify"] += 1
        return await averify(token)

    monkeypatch.setattr(cognito_verifier, "verify", counted_verify)
    monkeypatch.setattr(cognito_verifier, "averify", counted_averify)
    yield calls


def optional_user_app(verifier: CognitoVerifier) -> Flask:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/hello")
    def hello() -> dict[str, Any]:
        return {"user": current_cognito_user.sub if current_cognito_user else None}

    @app.get("/ahello")
    async def ahello() -> dict[str, Any]:
        user = await aget_cognito_user()
        return {"user": user.sub if user else None}

    @app.get("/alazy")
    async def alazy() -> dict[str, Any]:
        return {"user": current_cognito_user.sub if current_cognito_user else None}

    @app.get("/staff")
    @require_scope("orders/read")
    @require_group("staff", "admins")
    def staff() -> dict[str, Any]:
        return {"user": current_cognito_user.sub, "groups": sorted(current_cognito_user.groups)}

    @app.get("/astaff")
    @require_scope("orders/read")
    @require_group("staff", "admins")
    async def astaff() -> dict[str, Any]:
        return {"user": current_cognito_user.sub}

    return app


def test_unprotected_view_never_verifies(
    cognito_verifier: CognitoVerifier, counting_verifier: dict[str, int]
) -> None:
    client = optional_user_app(cognito_verifier).test_client()
    for header in ("Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer"):
        response = client.get("/public", headers={"Authorization": header})
        assert response.status_code == 200, header
    assert counting_verifier == {"verify": 0, "averify": 0}


def test_current_user_is_none_without_token_and_claims_with_one(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    client = optional_user_app(cognito_verifier).test_client()
    token = cognito_issuer.access_token(username="bob")
    sub = cognito_verifier.verify(token).sub
    for path in ("/hello", "/ahello"):
        assert client.get(path).json == {"user": None}, path
        assert client.get(path, headers={"Authorization": f"Bearer {token}"}).json == {
            "user": sub
        }, path


def test_reading_the_user_with_a_bad_token_is_a_401(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    client = optional_user_app(cognito_verifier).test_client()
    expired = cognito_issuer.access_token(expires_in=-60)
    for path in ("/hello", "/ahello"):
        response = client.get(path, headers={"Authorization": f"Bearer {expired}"})
        assert response.status_code == 401, path
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
        response = client.get(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert response.status_code == 400, path


@pytest.mark.parametrize(("path", "method"), [("/staff", "verify"), ("/astaff", "averify")])
def test_token_is_verified_once_per_request_with_the_matching_method(
    path: str,
    method: str,
    cognito_issuer: LocalIssuer,
    cognito_verifier: CognitoVerifier,
    counting_verifier: dict[str, int],
) -> None:
    client = optional_user_app(cognito_verifier).test_client()
    token = cognito_issuer.access_token(scopes=["orders/read"], groups=["staff"])
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert counting_verifier == {"verify": 0, "averify": 0, method: 1}

    outsider = cognito_issuer.access_token(scopes=["orders/read"], groups=["guests"])
    response = client.get(path, headers={"Authorization": f"Bearer {outsider}"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_lazy_user_in_an_async_view_refuses_to_block_the_loop(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    app = optional_user_app(cognito_verifier)
    app.testing = True
    token = cognito_issuer.access_token()
    with pytest.raises(CognitoUsageError, match="aget_cognito_user"):
        app.test_client().get("/alazy", headers={"Authorization": f"Bearer {token}"})


def test_require_scope_and_group_need_arguments() -> None:
    with pytest.raises(ConfigurationError, match="require_scope"):
        require_scope()
    with pytest.raises(ConfigurationError, match="require_group"):
        require_group()
    with pytest.raises(ConfigurationError, match="non-empty"):
        require_scope("orders/read", "")


# -- async views and the key store's single flight -------------------------------------------


def test_async_views_fetch_keys_in_each_fresh_loop(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    """Every async view runs in a new event loop; a fetch in one must not break the next."""
    verifier = cognito_issuer.verifier(
        jwks_uri=cognito_jwks_server.jwks_uri, key_policy=KeyPolicy(unknown_kid_cooldown=0)
    )
    client = async_reference_app(verifier).test_client()
    token = cognito_issuer.access_token(scopes=["openid"])
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert cognito_jwks_server.request_count() == 1
    cognito_issuer.rotate()  # a new kid: the next request's loop must fetch again
    rotated = cognito_issuer.access_token(scopes=["openid"])
    assert client.get("/me", headers={"Authorization": f"Bearer {rotated}"}).status_code == 200
    assert cognito_jwks_server.request_count() == 2


def test_concurrent_verifications_in_one_async_view_share_one_fetch(
    cognito_issuer: LocalIssuer, cognito_jwks_server: JWKSServer
) -> None:
    cognito_jwks_server.delay = 0.2  # keep the fetch in flight while the others arrive
    verifier = cognito_issuer.verifier(jwks_uri=cognito_jwks_server.jwks_uri)
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)
    tokens = [cognito_issuer.access_token(username=f"user{i}") for i in range(8)]

    @app.get("/batch")
    async def batch() -> dict[str, Any]:
        claims = await asyncio.gather(*(verifier.averify(token) for token in tokens))
        return {"users": [c.username for c in claims]}

    response = app.test_client().get("/batch")
    assert response.json == {"users": [f"user{i}" for i in range(8)]}
    assert cognito_jwks_server.request_count() == 1
