"""Plain Starlette with AuthenticationMiddleware: ``request.user`` from the session cookie too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires as starlette_requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_guard.integrations.starlette import CognitoGuard
from cognito_guard.sessions import MemorySessionStore, WebSignIn
from cognito_guard.testing import LocalIssuer, OAuthServer

SECRET = "starlette-auth-client-secret"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with LocalIssuer().serve_oauth(client_secret=SECRET) as server:  # auto sign-in
        yield server


@starlette_requires("authenticated")
async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user": request.user.display_name})


@pytest.mark.anyio
async def test_the_authentication_backend_accepts_the_session_cookie(oauth: OAuthServer) -> None:
    verifier = oauth.issuer.verifier(jwks_uri=oauth.jwks_uri)
    sign_in = WebSignIn(
        client=oauth.client(),
        verifier=verifier,
        redirect_uri="/auth/callback",
        store=MemorySessionStore(),
    )
    app = Starlette(routes=[Route("/whoami", whoami)])
    CognitoGuard(app, verifier, authentication=True, sign_in=sign_in)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as http:
        assert (await http.get("/whoami")).status_code == 403  # Starlette's own refusal
        login = await http.get("/auth/login")
        code_redirect = httpx.get(login.headers["location"]).headers["location"]
        callback = await http.get(code_redirect)
        assert callback.status_code == 302
        answer = await http.get("/whoami")
        assert answer.status_code == 200 and answer.json() == {"user": "alice"}
        # Replace the cookie (setting a second one of the same name would leave it to the cookie
        # jar, which differs between Python versions, which one is sent).
        http.cookies.clear()
        http.cookies.set("__Host-cognito_session", "forged", domain="127.0.0.1")
        refused = await http.get("/whoami")
        assert refused.status_code == 401 and refused.json()["error"] == "session_ended"
