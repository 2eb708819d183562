"""FastAPI and Starlette: mistakes are refused where written, or every request is refused."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_guard import CognitoClaims, CognitoVerifier, ConfigurationError
from cognito_guard.integrations.starlette import (
    CognitoGuard,
    cognito_user,
    require_group,
    require_scope,
    requires,
)
from cognito_guard.testing import LocalIssuer

from .matrix import asgi_client, bearer


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer("eu-west-1_Misuse123")


@pytest.fixture
def verifier(issuer: LocalIssuer) -> CognitoVerifier:
    return issuer.verifier()


@pytest.mark.anyio
@pytest.mark.parametrize("factory", [require_scope, require_group])
async def test_an_uncalled_dependency_factory_refuses_every_request(
    verifier: CognitoVerifier, issuer: LocalIssuer, factory: Any
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)

    @app.get("/orders", dependencies=[Depends(factory)])
    async def orders() -> dict[str, Any]:
        return {"orders": []}

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {"ok": True}

    async with asgi_client(app) as client:
        for path in ("/orders?scopes=orders/read", "/public"):
            with pytest.raises(ConfigurationError, match=rf"Depends\({factory.__name__}\("):
                await client.get(path, headers=bearer(issuer.access_token()))


@pytest.mark.anyio
async def test_a_dependency_as_a_bare_default_refuses_every_request(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)

    @app.get("/me")
    async def me(user=cognito_user) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {"served": True}  # would be served to anyone: FastAPI takes it for a query param

    async with asgi_client(app) as client:
        with pytest.raises(ConfigurationError, match=r"'user' has the default cognito_user"):
            await client.get("/me")


def test_calling_the_dependency_itself_fails_where_it_is_written() -> None:
    with pytest.raises(TypeError):
        Depends(cognito_user())  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "make",
    [
        lambda: require_scope(),
        lambda: require_scope("orders/read orders/write"),
        lambda: require_group("admins staff"),
        lambda: requires("orders/read orders/write"),
        lambda: requires(["orders/read", "orders/read orders/write"]),
        lambda: requires(groups="admins staff"),
    ],
)
def test_dependency_and_decorator_arguments_are_checked_when_written(make: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"whitespace|one or more names"):
        make()


def test_bare_requires_is_refused_at_decoration() -> None:
    with pytest.raises(ConfigurationError, match=r"@requires\('orders/read'\)"):

        @requires  # type: ignore[arg-type]
        async def orders(request: Request) -> JSONResponse:
            return JSONResponse({})


def test_setting_up_an_app_twice_is_refused(verifier: CognitoVerifier) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)
    with pytest.raises(ConfigurationError, match="already set up"):
        CognitoGuard(app, verifier)


def test_a_verifier_that_is_not_one_is_refused_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="must be a CognitoVerifier"):
        CognitoGuard(FastAPI(), {"USER_POOL_ID": "x"})  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_security_scopes_with_a_space_refuse_the_request(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)

    @app.get("/orders")
    async def orders(
        user: Annotated[CognitoClaims, Security(cognito_user, scopes=["orders/read orders/write"])],
    ) -> dict[str, Any]:
        return {"user": user.sub}

    token = issuer.access_token(scopes=["orders/read", "orders/write"])
    async with asgi_client(app) as client:
        with pytest.raises(ConfigurationError, match=r"Security\(\.\.\., scopes="):
            await client.get("/orders", headers=bearer(token))


@pytest.mark.anyio
async def test_dependencies_without_the_guard_refuse_the_request(issuer: LocalIssuer) -> None:
    app = FastAPI()

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(cognito_user)]) -> dict[str, Any]:
        return {"sub": user.sub}

    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": []})

    plain = Starlette(routes=[Route("/orders", requires("orders/read")(orders))])
    token = issuer.access_token(scopes=["orders/read"])
    for target, path in ((app, "/me"), (plain, "/orders")):
        async with asgi_client(target) as client:
            with pytest.raises(RuntimeError, match="no CognitoGuard"):
                await client.get(path, headers=bearer(token))


@pytest.mark.anyio
async def test_one_record_per_rejected_request_with_method_and_path(
    verifier: CognitoVerifier, issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)

    @app.delete("/orders/{order}", dependencies=[Depends(require_scope("orders/write"))])
    async def delete(order: int) -> dict[str, Any]:
        return {}

    caplog.set_level(logging.INFO, "cognito_guard")
    expired = issuer.access_token(expires_in=-60, scopes=["orders/write"])
    async with asgi_client(app) as client:
        assert (await client.delete("/orders/7", headers=bearer(expired))).status_code == 401
        assert (await client.delete("/orders/7")).status_code == 401
    records = [r.getMessage() for r in caplog.records if r.name == "cognito_guard"]
    assert len(records) == 2
    assert records[0].startswith("rejected DELETE /orders/7 with 401: ExpiredTokenError: ")
    assert records[1].startswith("rejected DELETE /orders/7 with 401: MissingTokenError: ")
    assert expired not in caplog.text


@pytest.mark.anyio
async def test_security_scopes_given_as_a_string_refuse_the_request(
    verifier: CognitoVerifier, issuer: LocalIssuer
) -> None:
    app = FastAPI()
    CognitoGuard(app, verifier)

    @app.get("/orders")
    async def orders(
        user: Annotated[CognitoClaims, Security(cognito_user, scopes="orders/read")],  # type: ignore[arg-type]
    ) -> dict[str, Any]:
        return {"user": user.sub}

    token = issuer.access_token(scopes=["orders/read"])
    async with asgi_client(app) as client:
        with pytest.raises(ConfigurationError, match="got a string"):
            await client.get("/orders", headers=bearer(token))
