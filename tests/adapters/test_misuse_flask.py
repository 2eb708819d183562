"""Flask: each plausible mistake is refused at start-up or decoration, or the request is refused."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Blueprint, Flask
from flask.views import MethodView

from cognito_guard import CognitoVerifier, ConfigurationError
from cognito_guard.integrations.flask import (
    CognitoGuard,
    current_cognito_user,
    require_auth,
    require_group,
    require_scope,
)
from cognito_guard.testing import LocalIssuer

from .matrix import bearer


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COGNITO_USER_POOL_ID", "COGNITO_CLIENT_ID", "COGNITO_SCOPES", "COGNITO_GROUP"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer("eu-west-1_Misuse123")


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


def _configured(issuer: LocalIssuer, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        COGNITO_USER_POOL_ID=issuer.user_pool_id,
        COGNITO_CLIENT_ID=issuer.client_id,
        COGNITO_JWKS_URI="https://example.invalid/jwks.json",
        **config,
    )
    return app


@pytest.mark.parametrize(
    ("name", "meant"), [("COGNITO_SCOPE", "COGNITO_SCOPES"), ("COGNITO_GROUP", "COGNITO_GROUPS")]
)
def test_a_misspelt_setting_in_app_config_fails_the_start_up(
    issuer: LocalIssuer, name: str, meant: str
) -> None:
    # The trial: COGNITO_SCOPE ignored let a token with only "openid" reach the view.
    app = _configured(issuer, **{name: "admin/all"})
    with pytest.raises(ConfigurationError, match=f"{name!r}; did you mean {meant!r}"):
        CognitoGuard(app)
    assert "cognito_guard" not in app.extensions


def test_a_misspelt_setting_alone_is_not_replaced_by_the_environment(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    app = Flask(__name__)
    app.config["COGNITO_SCOPE"] = "admin/all"
    with pytest.raises(ConfigurationError, match=r"app\.config"):
        CognitoGuard(app)


def test_a_misspelt_environment_variable_fails_the_start_up(
    issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
    monkeypatch.setenv("COGNITO_GROUP", "admins")
    with pytest.raises(ConfigurationError, match="did you mean 'COGNITO_GROUPS'"):
        CognitoGuard(Flask(__name__))


def test_the_application_own_cognito_settings_are_left_alone(issuer: LocalIssuer) -> None:
    app = _configured(issuer, COGNITO_DOMAIN="https://auth.example.com", COGNITO_REGION="x")
    CognitoGuard(app)
    assert "cognito_guard" in app.extensions


def test_scopes_setting_with_a_list_holding_a_space_fails_the_start_up(issuer: LocalIssuer) -> None:
    app = _configured(issuer, COGNITO_SCOPES=["orders/read orders/write"])
    with pytest.raises(ConfigurationError, match="whitespace"):
        CognitoGuard(app)


def test_setting_up_an_app_twice_is_refused(verifier: CognitoVerifier) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)
    with pytest.raises(ConfigurationError, match="already set up"):
        CognitoGuard(app, verifier=verifier)


def test_decorator_above_the_route_is_refused_at_decoration(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)
    with pytest.raises(ConfigurationError, match=r"put @app.route\(...\) first"):

        @require_scope("orders/read")
        @app.get("/orders")
        def orders() -> dict[str, Any]:
            return {"orders": []}


def test_decorator_above_a_route_declared_before_the_guard_fails_the_start_up(
    verifier: CognitoVerifier,
) -> None:
    app = Flask(__name__)

    @require_auth
    @app.get("/me")
    def me() -> dict[str, Any]:
        return {}

    with pytest.raises(ConfigurationError, match=r"\['me'\] are registered unprotected"):
        CognitoGuard(app, verifier=verifier)


def test_decorator_above_a_blueprint_route_refuses_every_request(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)
    bp = Blueprint("shop", __name__)

    @require_scope("orders/read")
    @bp.get("/orders")
    def orders() -> dict[str, Any]:
        return {"orders": []}

    @bp.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    app.register_blueprint(bp)
    client = app.test_client()
    token = issuer.access_token(scopes=["openid"])  # no orders/read: must never get a 200
    caplog.set_level(logging.ERROR, "cognito_guard")
    for path in ("/orders", "/public", "/orders"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 500, path
    assert "['shop.orders'] are registered unprotected" in caplog.text
    app.testing = True  # the error itself reaches the test
    with pytest.raises(ConfigurationError, match=r"shop\.orders"):
        client.get("/orders")


def test_bare_require_scope_is_refused_at_decoration() -> None:
    with pytest.raises(ConfigurationError, match=r"@require_scope\('orders/read'\), not"):

        @require_scope  # type: ignore[arg-type]
        def orders() -> None: ...


@pytest.mark.parametrize(
    "make",
    [
        lambda: require_scope(),
        lambda: require_scope("orders/read orders/write"),
        lambda: require_scope(["orders/read", "orders/write"]),  # type: ignore[arg-type]
        lambda: require_group(""),
        lambda: require_group("admins staff"),
    ],
)
def test_decorator_arguments_are_checked_when_written(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_require_auth_with_and_without_parentheses_both_protect(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)

    @app.get("/a")
    @require_auth
    def a() -> dict[str, Any]:
        return {}

    @app.get("/b")
    @require_auth()
    def b() -> dict[str, Any]:
        return {}

    client = app.test_client()
    for path in ("/a", "/b"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=bearer(issuer.access_token())).status_code == 200


def test_decorating_a_class_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="decorators = "):

        @require_auth
        class Orders(MethodView):
            def get(self) -> dict[str, Any]:
                return {}


def test_current_user_read_in_an_unguarded_view_without_a_token_is_a_401_not_a_500(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)

    @app.get("/me")
    def me() -> dict[str, Any]:
        return {"sub": current_cognito_user.sub}

    @app.get("/maybe")
    def maybe() -> dict[str, Any]:
        return {"signed_in": bool(current_cognito_user)}

    client = app.test_client()
    caplog.set_level(logging.INFO, "cognito_guard")
    response = client.get("/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "protect the view with @require_auth" in caplog.text
    assert client.get("/maybe").json == {"signed_in": False}  # testing it stays falsy, no error
    token = issuer.access_token()
    assert client.get("/me", headers=bearer(token)).json == {
        "sub": issuer.verifier().verify(token).sub
    }


def test_guard_decorator_without_the_extension_refuses_the_request(issuer: LocalIssuer) -> None:
    app = Flask(__name__)

    @app.get("/me")
    @require_auth
    def me() -> dict[str, Any]:
        return {}

    response = app.test_client().get("/me", headers=bearer(issuer.access_token()))
    assert response.status_code == 500


def test_one_record_per_rejected_request_with_method_and_path(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = Flask(__name__)
    CognitoGuard(app, verifier=verifier)

    @app.post("/orders")
    @require_scope("orders/write")
    def create() -> dict[str, Any]:
        return {"user": current_cognito_user.sub}

    client = app.test_client()
    caplog.set_level(logging.INFO, "cognito_guard")
    expired = issuer.access_token(expires_in=-60)
    assert client.post("/orders", headers=bearer(expired)).status_code == 401
    assert client.post("/orders", headers=bearer(issuer.access_token())).status_code == 403
    records = [r.getMessage() for r in caplog.records if r.name == "cognito_guard"]
    assert len(records) == 2
    assert records[0].startswith("rejected POST /orders with 401: ExpiredTokenError: ")
    assert records[1].startswith("rejected POST /orders with 403: InsufficientScopeError: ")
    assert expired not in caplog.text


def test_scopes_in_app_config_next_to_a_verifier_of_its_own_are_refused(
    verifier: CognitoVerifier,
) -> None:
    app = Flask(__name__)
    app.config["COGNITO_SCOPES"] = "admin/all"
    with pytest.raises(ConfigurationError, match=r"does not apply\s+to the verifier given"):
        CognitoGuard(app, verifier=verifier)
