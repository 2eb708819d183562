"""RFC 9728 protected-resource metadata, the same in every adapter, through real servers.

Each adapter serves the reference API (``/public``, ``/me``, ``GET /orders`` needing
``orders/read``, ``POST /orders`` needing ``orders/write``, ``/admin`` needing the group
``admins``) with ``resource=`` set, for a resource at the root of its host and for one with a
path: Flask under waitress, FastAPI and Starlette under uvicorn, the WSGI middleware under
waitress and the ASGI middleware under uvicorn (both denying by default), and the Django test
project configured from ``COGNITO_*`` variables under waitress and uvicorn in a subprocess.
Every one serves the same bytes at the well-known path, without a token; names that URL in its
401 challenges; and refuses a token issued for another resource.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Security
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_guard import CognitoClaims, CognitoVerifier, ConfigurationError
from cognito_guard.bearer import BearerGuard, Requirement
from cognito_guard.integrations import flask as flask_guard
from cognito_guard.integrations import starlette as starlette_guard
from cognito_guard.integrations.asgi import CognitoASGIMiddleware
from cognito_guard.integrations.wsgi import CognitoWSGIMiddleware
from cognito_guard.resource import WELL_KNOWN, metadata_url
from cognito_guard.testing import JWKSServer, LocalIssuer
from cognito_guard.testing.process import AppProcess

from ._uvicorn import uvicorn_thread
from .test_asgi import reference_app as asgi_reference_app
from .test_flask_server import waitress
from .test_wsgi import reference_app as wsgi_reference_app

ROOT = Path(__file__).resolve().parents[2]
OTHER = "https://other.example.com"
RESOURCES = ["https://api.example.com", "https://api.example.com/orders-api"]
ADAPTERS = ["flask", "fastapi", "starlette", "wsgi", "asgi", "django-waitress", "django-uvicorn"]
# The middlewares deny by default: every path needs a token unless a rule says otherwise.
RULES: dict[str, Requirement | None] = {
    "/": Requirement(),
    "/public": None,
    "GET /orders": Requirement.of(scopes="orders/read"),
    "POST /orders": Requirement.of(scopes="orders/write"),
    "/admin": Requirement.of(groups="admins"),
}


# -- the reference API in each framework ----------------------------------------------------------


def flask_app(verifier: CognitoVerifier, resource: str) -> Flask:
    app = Flask(__name__)
    flask_guard.CognitoGuard(app, verifier=verifier, resource=resource)
    user = flask_guard.current_cognito_user

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/me")
    @flask_guard.require_auth
    def me() -> dict[str, Any]:
        return {"sub": user.sub}

    @app.get("/orders")
    @flask_guard.require_scope("orders/read")
    def orders() -> dict[str, Any]:
        return {"user": user.sub, "orders": []}

    @app.post("/orders")
    @flask_guard.require_scope("orders/write")
    def create() -> tuple[dict[str, Any], int]:
        return {"user": user.sub, "created": True}, 201

    @app.get("/admin")
    @flask_guard.require_group("admins")
    def admin() -> dict[str, Any]:
        return {"user": user.sub}

    return app


def fastapi_app(verifier: CognitoVerifier, resource: str) -> FastAPI:
    app = FastAPI()
    starlette_guard.CognitoGuard(app, verifier, resource=resource)

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/me")
    async def me(user: Annotated[CognitoClaims, Depends(starlette_guard.cognito_user)]) -> Any:
        return {"sub": user.sub}

    @app.get("/orders", dependencies=[Depends(starlette_guard.require_scope("orders/read"))])
    async def orders() -> dict[str, Any]:
        return {"orders": []}

    @app.post("/orders", status_code=201)
    async def create(
        user: Annotated[
            CognitoClaims, Security(starlette_guard.cognito_user, scopes=["orders/write"])
        ],
    ) -> dict[str, Any]:
        return {"user": user.sub, "created": True}

    @app.get("/admin", dependencies=[Depends(starlette_guard.require_group("admins"))])
    async def admin() -> dict[str, Any]:
        return {"ok": True}

    return app


def starlette_app(verifier: CognitoVerifier, resource: str) -> Starlette:
    requires = starlette_guard.requires

    async def public(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @requires("authenticated")
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @requires("orders/read")
    async def orders(request: Request) -> JSONResponse:
        return JSONResponse({"orders": []})

    @requires("orders/write")
    async def create(request: Request) -> JSONResponse:
        return JSONResponse({"created": True}, status_code=201)

    @requires(groups="admins")
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/public", public),
            Route("/me", me),
            Route("/orders", orders, methods=["GET"]),
            Route("/orders", create, methods=["POST"]),
            Route("/admin", admin),
        ]
    )
    starlette_guard.CognitoGuard(app, verifier, resource=resource, authentication=True)
    return app


# -- real servers ---------------------------------------------------------------------------------


def django_process(server: str, issuer: LocalIssuer, jwks: JWKSServer, resource: str) -> AppProcess:
    env = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": issuer.client_id,
        "COGNITO_JWKS_URI": jwks.jwks_uri,
        "COGNITO_AUDIENCE": resource,
        "COGNITO_RESOURCE": resource,
    }
    target = "tests.adapters.django_project.served:" + ("wsgi" if server == "waitress" else "asgi")
    return AppProcess(target, server=server, paths=[ROOT], env=env)  # type: ignore[arg-type]


def serve(
    stack: ExitStack, adapter: str, issuer: LocalIssuer, jwks: JWKSServer, resource: str
) -> str:
    """Start ``adapter``'s reference API for ``resource`` on ``stack``; its base URL."""
    if adapter.startswith("django-"):
        app = stack.enter_context(django_process(adapter[7:], issuer, jwks, resource))
        return app.url
    verifier = issuer.verifier(jwks_uri=jwks.jwks_uri, audience=resource)
    builders: dict[str, Callable[[], Any]] = {
        "flask": lambda: waitress(flask_app(verifier, resource)),
        "wsgi": lambda: waitress(
            CognitoWSGIMiddleware(wsgi_reference_app, verifier, protect=RULES, resource=resource)
        ),
        "fastapi": lambda: uvicorn_thread(fastapi_app(verifier, resource)),
        "starlette": lambda: uvicorn_thread(starlette_app(verifier, resource)),
        "asgi": lambda: uvicorn_thread(
            CognitoASGIMiddleware(asgi_reference_app, verifier, protect=RULES, resource=resource)
        ),
    }
    url: str = stack.enter_context(builders[adapter]())
    return url


@pytest.fixture(scope="module", params=RESOURCES, ids=["root", "with-path"])
def resource(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def servers(resource: str, issuer: LocalIssuer, jwks: JWKSServer) -> Iterator[dict[str, str]]:
    """Every adapter's reference API for ``resource``, running at once: adapter -> base URL."""
    with ExitStack() as stack:
        yield {adapter: serve(stack, adapter, issuer, jwks, resource) for adapter in ADAPTERS}


def well_known_path(resource: str) -> str:
    return metadata_url(resource).removeprefix("https://api.example.com")


# -- the document ---------------------------------------------------------------------------------


def test_the_metadata_path_follows_rfc_9728_section_3_1(resource: str) -> None:
    expected = {
        "https://api.example.com": WELL_KNOWN,
        "https://api.example.com/orders-api": WELL_KNOWN + "/orders-api",
    }
    assert well_known_path(resource) == expected[resource]


def test_every_adapter_serves_the_same_document_without_a_token(
    servers: dict[str, str], resource: str, issuer: LocalIssuer
) -> None:
    path = well_known_path(resource)
    bodies: dict[str, bytes] = {}
    for adapter, url in servers.items():
        response = httpx.get(url + path, timeout=10)
        assert response.status_code == 200, (adapter, response.text)
        assert response.headers["content-type"] == "application/json", adapter
        assert response.headers["cache-control"] == "public, max-age=3600", adapter
        assert response.headers["access-control-allow-origin"] == "*", adapter
        bodies[adapter] = response.content
    assert len(set(bodies.values())) == 1, bodies  # byte for byte the same everywhere
    assert httpx.Response(200, content=bodies["flask"]).json() == {
        "resource": resource,
        "authorization_servers": [issuer.issuer],
        "scopes_supported": ["orders/read", "orders/write"],
        "bearer_methods_supported": ["header"],
    }


def test_the_document_is_public_even_with_a_bad_token_under_deny_by_default_rules(
    servers: dict[str, str], resource: str
) -> None:
    path = well_known_path(resource)
    for adapter, url in servers.items():
        # A stale or garbage token is not even looked at: the document needs none.
        response = httpx.get(url + path, headers={"Authorization": "Bearer not.a.jwt"}, timeout=10)
        assert response.status_code == 200, (adapter, response.text)
        assert response.json()["resource"] == resource, adapter
        # The denying rule still holds for every other path.
        assert httpx.get(url + "/me", timeout=10).status_code == 401, adapter


def test_head_and_the_cors_preflight_are_answered(servers: dict[str, str], resource: str) -> None:
    path = well_known_path(resource)
    for adapter, url in servers.items():
        document = httpx.get(url + path, timeout=10).content
        head = httpx.head(url + path, timeout=10)
        assert head.status_code == 200, adapter
        assert head.content == b"", adapter
        assert head.headers["content-length"] == str(len(document)), adapter
        preflight = httpx.options(
            url + path,
            headers={
                "Origin": "https://inspector.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "mcp-protocol-version",
            },
            timeout=10,
        )
        assert preflight.status_code == 204, (adapter, preflight.text)
        assert preflight.headers["access-control-allow-origin"] == "*", adapter
        assert "GET" in preflight.headers["access-control-allow-methods"], adapter


def test_only_the_resources_own_well_known_path_serves_it(
    servers: dict[str, str], resource: str
) -> None:
    wrong = WELL_KNOWN + "/orders-api" if resource == RESOURCES[0] else WELL_KNOWN
    for adapter, url in servers.items():
        response = httpx.get(url + wrong, timeout=10)
        assert response.status_code in (401, 404), (adapter, response.status_code)


# -- the challenge and the audience ---------------------------------------------------------------


def test_every_401_names_the_metadata_url(
    servers: dict[str, str], resource: str, issuer: LocalIssuer
) -> None:
    expected = f'resource_metadata="{metadata_url(resource)}"'
    expired = issuer.access_token(aud=resource, expires_in=-60)
    for adapter, url in servers.items():
        bare = httpx.get(url + "/me", timeout=10)
        assert bare.status_code == 401, adapter
        assert bare.headers["www-authenticate"] == f"Bearer {expected}", adapter
        stale = httpx.get(url + "/me", headers={"Authorization": f"Bearer {expired}"}, timeout=10)
        assert stale.status_code == 401, adapter
        challenge = stale.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="invalid_token", error_description='), adapter
        assert challenge.endswith(", " + expected), (adapter, challenge)


def test_a_token_for_another_resource_is_401_invalid_token(
    servers: dict[str, str], resource: str, issuer: LocalIssuer
) -> None:
    tokens = {
        "for another resource": issuer.access_token(scopes=["orders/read"], aud=OTHER),
        "for no resource": issuer.access_token(scopes=["orders/read"]),
    }
    good = issuer.access_token(scopes=["orders/read"], aud=resource)
    for adapter, url in servers.items():
        assert (
            httpx.get(url + "/orders", headers={"Authorization": f"Bearer {good}"}).status_code
            == 200
        )
        for what, token in tokens.items():
            response = httpx.get(url + "/orders", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, (adapter, what)
            assert response.json() == {
                "error": "invalid_token",
                "error_description": "The token was issued for another resource",
            }, (adapter, what)
            assert 'error="invalid_token"' in response.headers["www-authenticate"], adapter


def test_a_403_names_the_metadata_url_too(
    servers: dict[str, str], resource: str, issuer: LocalIssuer
) -> None:
    token = issuer.access_token(scopes=["orders/read"], aud=resource)
    for adapter, url in servers.items():
        response = httpx.post(url + "/orders", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403, adapter
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge, adapter
        assert challenge.endswith(f'resource_metadata="{metadata_url(resource)}"'), adapter


# -- refused at construction ----------------------------------------------------------------------

RESOURCE = RESOURCES[0]


def _constructions(verifier: CognitoVerifier) -> dict[str, Callable[[], object]]:
    return {
        "BearerGuard": lambda: BearerGuard(verifier, resource=RESOURCE),
        "flask": lambda: flask_guard.CognitoGuard(
            Flask(__name__), verifier=verifier, resource=RESOURCE
        ),
        "starlette": lambda: starlette_guard.CognitoGuard(Starlette(), verifier, resource=RESOURCE),
        "fastapi": lambda: starlette_guard.CognitoGuard(FastAPI(), verifier, resource=RESOURCE),
        "wsgi": lambda: CognitoWSGIMiddleware(wsgi_reference_app, verifier, resource=RESOURCE),
        "asgi": lambda: CognitoASGIMiddleware(asgi_reference_app, verifier, resource=RESOURCE),
    }


@pytest.mark.parametrize(
    "adapter", ["BearerGuard", "flask", "starlette", "fastapi", "wsgi", "asgi"]
)
def test_a_verifier_without_audience_is_refused_at_construction(
    issuer: LocalIssuer, adapter: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        _constructions(issuer.verifier())[adapter]()
    assert str(caught.value).startswith(
        f"resource={RESOURCE!r} needs a verifier that checks the audience: build it with "
        f"audience={RESOURCE!r}"
    )
    assert "would accept access tokens issued for other resources" in str(caught.value)


@pytest.mark.parametrize(
    "adapter", ["BearerGuard", "flask", "starlette", "fastapi", "wsgi", "asgi"]
)
def test_a_resource_the_verifier_does_not_accept_is_refused_at_construction(
    issuer: LocalIssuer, adapter: str
) -> None:
    with pytest.raises(ConfigurationError, match="is not one of the verifier's audiences"):
        _constructions(issuer.verifier(audience=OTHER))[adapter]()


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        ("https://api.example.com/caf%C3%A9", "without percent-encoding"),
        ("https://api.example.com/a<b>", "plain ASCII"),
    ],
)
def test_a_resource_path_the_servers_would_decode_is_refused(
    issuer: LocalIssuer, resource: str, message: str
) -> None:
    verifier = issuer.verifier(audience=resource)
    with pytest.raises(ConfigurationError, match=message):
        CognitoWSGIMiddleware(wsgi_reference_app, verifier, resource=resource)
    with pytest.raises(ConfigurationError, match=message):
        flask_guard.CognitoGuard(Flask(__name__), verifier=verifier, resource=resource)


def test_flask_reads_the_resource_from_app_config(issuer: LocalIssuer, jwks: JWKSServer) -> None:
    app = Flask(__name__)
    app.config.update(
        COGNITO_USER_POOL_ID=issuer.user_pool_id,
        COGNITO_CLIENT_ID=issuer.client_id,
        COGNITO_JWKS_URI=jwks.jwks_uri,
        COGNITO_AUDIENCE=RESOURCE,
        COGNITO_RESOURCE=RESOURCE,
    )
    flask_guard.CognitoGuard(app)
    response = app.test_client().get(WELL_KNOWN)
    assert response.status_code == 200
    assert response.get_json()["resource"] == RESOURCE
    # without an audience in app.config, the same resource is refused at start-up
    other = Flask(__name__)
    other.config.update({k: v for k, v in app.config.items() if k != "COGNITO_AUDIENCE"})
    with pytest.raises(ConfigurationError, match="needs a verifier that checks the audience"):
        flask_guard.CognitoGuard(other)
