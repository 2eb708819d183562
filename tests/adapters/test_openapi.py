"""The OpenAPI document of a FastAPI app tells what the guard demands and how it answers."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Security

from cognito_guard import CognitoClaims
from cognito_guard.integrations.starlette import (
    CognitoGuard,
    cognito_user,
    cognito_user_optional,
    require_group,
    require_scope,
)
from cognito_guard.testing import LocalIssuer

SCHEMA_REF = {"$ref": "#/components/schemas/CognitoError"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = FastAPI()
    CognitoGuard(app, LocalIssuer("eu-west-1_OpenApi123").verifier())

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {}

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {}

    @app.get("/catalogue")
    async def catalogue(
        user: Annotated[CognitoClaims | None, Depends(cognito_user_optional)],
    ) -> dict[str, Any]:
        return {}

    @app.get("/premium")
    async def premium(
        user: Annotated[
            CognitoClaims | None, Security(cognito_user_optional, scopes=["shop/premium"])
        ],
    ) -> dict[str, Any]:
        return {}

    @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
    async def orders(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {}

    @app.post("/orders", dependencies=[Depends(require_scope("orders/read"))])
    async def create(
        user: Annotated[CognitoClaims, Security(cognito_user, scopes=["orders/write"])],
    ) -> dict[str, Any]:
        return {}

    @app.get("/admin", dependencies=[Depends(require_group("admins"))])
    async def admin() -> dict[str, Any]:
        return {}

    @app.get("/teapot", responses={401: {"description": "my own words"}})
    async def teapot(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {}

    router = APIRouter(prefix="/v2", dependencies=[Depends(require_scope("v2/read"))])

    @router.get("/items")
    async def items() -> dict[str, Any]:
        return {}

    app.include_router(router)
    return app.openapi()


def _op(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path][method]
    return operation


def test_a_route_with_the_optional_user_says_no_token_is_accepted(
    document: dict[str, Any],
) -> None:
    assert _op(document, "/catalogue")["security"] == [{}, {"CognitoBearer": []}]
    assert _op(document, "/premium")["security"] == [{}, {"CognitoBearer": ["shop/premium"]}]


def test_require_scope_scopes_are_in_the_security_requirement(document: dict[str, Any]) -> None:
    assert _op(document, "/me")["security"] == [{"CognitoBearer": []}]
    # one requirement with every scope (all are demanded), not alternatives
    assert _op(document, "/orders")["security"] == [{"CognitoBearer": ["orders/read"]}]
    assert _op(document, "/orders", "post")["security"] == [
        {"CognitoBearer": ["orders/write", "orders/read"]}
    ]
    assert _op(document, "/v2/items")["security"] == [{"CognitoBearer": ["v2/read"]}]
    assert _op(document, "/admin")["security"] == [{"CognitoBearer": []}]


def test_guarded_operations_list_their_error_answers_with_the_body_schema(
    document: dict[str, Any],
) -> None:
    for path, method in (("/me", "get"), ("/orders", "post"), ("/admin", "get")):
        responses = _op(document, path, method)["responses"]
        for status in ("400", "401", "403", "503"):
            content = responses[status]["content"]["application/json"]
            assert content["schema"] == SCHEMA_REF, (path, status)
        assert "WWW-Authenticate" in responses["401"]["headers"]
        assert "Retry-After" in responses["503"]["headers"]
    schema = document["components"]["schemas"]["CognitoError"]
    assert schema["required"] == ["error", "error_description"]
    assert set(schema["properties"]) == {"error", "error_description"}


def test_an_optional_token_without_scopes_is_never_a_403(document: dict[str, Any]) -> None:
    responses = _op(document, "/catalogue")["responses"]
    assert {"401", "503"} <= set(responses)
    assert "403" not in responses
    assert "403" in _op(document, "/premium")["responses"]


def test_unguarded_routes_and_the_application_own_answers_are_untouched(
    document: dict[str, Any],
) -> None:
    public = _op(document, "/public")
    assert "security" not in public
    assert set(public["responses"]) == {"200"}
    assert _op(document, "/teapot")["responses"]["401"] == {"description": "my own words"}


def test_the_document_is_stable_across_calls() -> None:
    app = FastAPI()
    CognitoGuard(app, LocalIssuer("eu-west-1_OpenApi123").verifier())

    @app.get("/catalogue")
    async def catalogue(
        user: Annotated[CognitoClaims | None, Depends(cognito_user_optional)],
    ) -> dict[str, Any]:
        return {}

    first = app.openapi()["paths"]["/catalogue"]["get"]["security"]
    assert (
        app.openapi()["paths"]["/catalogue"]["get"]["security"]
        == first
        == [
            {},
            {"CognitoBearer": []},
        ]
    )
