"""The Starlette and FastAPI internals the Starlette integration relies on (``_compat``).

Each test pins one reach: it fails when a release of either framework changes what the
integration uses, before any user's request does.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Security
from fastapi.security.base import SecurityBase
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from cognito_guard import ConfigurationError
from cognito_guard.integrations.starlette import SCHEME_NAME, _compat, cognito_user

from .matrix import asgi_client


def test_state_keeps_its_values_in_a_dict() -> None:
    state = State()
    state.cognito_guard = "the guard"
    values = getattr(state, _compat.STATE_DICT)
    assert type(values) is dict and values["cognito_guard"] == "the guard"


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


@pytest.mark.anyio
async def test_the_check_runs_once_when_the_stack_is_built_and_refuses_when_it_fails() -> None:
    assert inspect.signature(Starlette.build_middleware_stack).parameters.keys() == {"self"}
    runs: list[str] = []
    app = Starlette(routes=[Route("/", hello)])
    assert _compat.when_built(app, lambda: runs.append("checked"))
    assert runs == []  # not at set-up: routes may still be added
    async with asgi_client(app) as client:
        assert (await client.get("/")).text == "hello"
        assert (await client.get("/")).text == "hello"
    assert runs == ["checked"]

    def refuse() -> None:
        raise ConfigurationError("misused")

    failing = Starlette(routes=[Route("/", hello)])
    _compat.when_built(failing, refuse)
    async with asgi_client(failing) as client:
        for _ in range(2):  # the stack stays unbuilt: every request is refused
            with pytest.raises(ConfigurationError, match="misused"):
                await client.get("/")


def test_when_built_leaves_what_is_not_starlette_alone() -> None:
    assert not _compat.when_built(object(), lambda: None)


def dependency() -> str:
    return "value"


def test_every_route_finds_included_routers_and_mounts() -> None:
    router = APIRouter(prefix="/api", dependencies=[Depends(dependency)])

    @router.get("/orders")
    async def orders() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    app.router.routes.append(Mount("/plain", routes=[Route("/hello", hello)]))
    paths = {getattr(route, "path", None) for route in _compat.every_route(app.routes)}
    assert {"/api/orders", "/plain", "/hello"} <= paths
    # The included router's own dependencies are on its routes as FastAPI sees them.
    (orders_route,) = [r for r in _compat.every_route(app.routes) if r.path == "/api/orders"]
    assert dependency in list(_compat.dependency_calls(orders_route))


def inner() -> str:
    return "inner"


def outer(value: Annotated[str, Depends(inner)]) -> str:
    return value


def test_dependency_calls_walk_the_dependant_tree() -> None:
    app = FastAPI()

    @app.get("/x")
    async def x(value: Annotated[str, Depends(outer)]) -> dict[str, str]:
        return {"value": value}

    (route,) = [r for r in app.routes if getattr(r, "path", None) == "/x"]
    assert hasattr(route, "dependant")
    calls = list(_compat.dependency_calls(route))
    assert outer in calls and inner in calls
    assert list(_compat.dependency_calls(Route("/", hello))) == []  # no dependant: nothing


def test_security_dependencies_give_the_scopes_of_each_security() -> None:
    app = FastAPI()
    router = APIRouter(dependencies=[Security(cognito_user, scopes=["admin/all"])])

    @router.get("/admin")
    async def admin() -> dict[str, str]:
        return {}

    @app.post("/orders")
    async def create(
        user: Annotated[Any, Security(cognito_user, scopes=["orders/write"])],
        value: Annotated[str, Depends(outer)],
    ) -> dict[str, str]:
        return {}

    app.include_router(router)
    routes = {r.path: r for r in _compat.every_route(app.routes) if hasattr(r, "path")}
    found = list(_compat.security_dependencies(routes["/orders"]))
    # The scopes of that Security(...) alone (FastAPI's own_oauth_scopes), none for a Depends.
    assert (cognito_user, ("orders/write",)) in found
    assert (outer, ()) in found and (inner, ()) in found
    assert list(_compat.security_dependencies(routes["/admin"])) == [(cognito_user, ("admin/all",))]


def test_fastapi_takes_our_dependency_for_the_security_scheme_it_wraps() -> None:
    # FastAPI unwraps a dependency to tell a security scheme; ours wraps CognitoBearer.
    assert isinstance(inspect.unwrap(cognito_user), SecurityBase)
    app = FastAPI()

    @app.get("/me")
    async def me(user: Annotated[Any, Depends(cognito_user)]) -> dict[str, str]:
        return {}

    schema = app.openapi()
    assert SCHEME_NAME in schema["components"]["securitySchemes"]
    assert schema["paths"]["/me"]["get"]["security"] == [{SCHEME_NAME: []}]
    # Its own parameters stay what FastAPI solves (no sub-dependency for the scheme).
    assert list(inspect.signature(cognito_user).parameters) == ["request", "security_scopes"]
