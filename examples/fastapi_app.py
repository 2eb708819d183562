"""The reference app of the adapter matrix (tests/adapters/matrix.py), with FastAPI.

Configured from ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` (and optionally
``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``, ...); missing or invalid settings stop the server at
start-up with a ConfigurationError. Run it with::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b2c3d4e5f6g7h8i9j0k1l2m \\
        uvicorn fastapi_app:app --app-dir examples

then open http://127.0.0.1:8000/docs and use the Authorize button with an access token.

With ``COGNITO_SIGN_IN_DOMAIN`` (and the other ``COGNITO_SIGN_IN_*`` variables of
:mod:`cognito_guard.sessions.settings`) it also runs web sign-in: ``/auth/login``, ...,
and a signed-in page at ``/account``; the API routes then accept the session cookie too.
On plain ``http://127.0.0.1`` add ``COGNITO_SIGN_IN_INSECURE_DEV_COOKIES=1`` (development only:
browsers refuse the ``Secure``, ``__Host-`` session cookie on plain http).

With ``COGNITO_REVOCATIONS_URL`` (a Redis URL) revoked tokens are refused in every process.
``GET /ready`` is the readiness probe (200, or 503 with the reasons: keys not loaded, revocation
list not synchronised, session store unreachable); ``GET /public`` serves as the liveness probe.
The verifier, its revocation list and the session store are made once per process, when the
module is imported (each ``uvicorn --workers`` process imports it), and closed by the lifespan
when the server stops.
"""

from __future__ import annotations

import html
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from cognito_guard import CognitoClaims, CognitoVerifier, readiness
from cognito_guard.config import verifier_from_env
from cognito_guard.integrations.starlette import (
    CognitoGuard,
    cognito_user,
    cognito_user_optional,
    require_group,
    require_scope,
)
from cognito_guard.revocation import RedisRevocations
from cognito_guard.sessions import RedisSessionStore, WebSignIn, sign_in_from_env

# The signed-in page: the browser never sees a token; its script calls the API with the cookie
# and the X-CSRF header that cookie-authenticated unsafe requests need.
ACCOUNT_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Account</title></head><body>
<h1>Account</h1><p id="user">Signed in as {username}</p>
<button id="sign-out">Sign out</button>
<script>
document.getElementById("sign-out").onclick = async () => {{
  const answer = await fetch("/auth/logout", {{method: "POST",
    headers: {{"X-CSRF": "1", "Accept": "application/json"}}}});
  window.location = (await answer.json()).logout_url;
}};
</script></body></html>"""
HOME_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Home</title></head>
<body><h1>Home</h1><p id="home">Signed out.</p><a href="/account">Sign in</a></body></html>"""

User = Annotated[CognitoClaims, Depends(cognito_user)]


def create_app(
    verifier: CognitoVerifier | None = None, sign_in: WebSignIn | None = None
) -> FastAPI:
    """The reference app; ``verifier`` defaults to one built from the COGNITO_* variables."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # Shutdown: stop the revocation list's thread, close the Redis clients.
        if isinstance(guard.verifier.revocations, RedisRevocations):
            await guard.verifier.revocations.aclose()
        if sign_in is not None and isinstance(sign_in.store, RedisSessionStore):
            sign_in.store.close()

    app = FastAPI(title="cognito_guard reference app", lifespan=lifespan)
    guard = CognitoGuard(app, verifier=verifier, sign_in=sign_in)

    if sign_in is not None:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        async def home() -> str:
            return HOME_PAGE

        @app.get("/account", include_in_schema=False)
        async def account(
            user: Annotated[CognitoClaims | None, Depends(cognito_user_optional)],
        ) -> Response:
            if user is None:  # a page, not an API: send the browser to sign in
                return RedirectResponse(sign_in.login_url("/account"), status_code=302)
            return HTMLResponse(ACCOUNT_PAGE.format(username=html.escape(user.username or "")))

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/ready")
    async def ready() -> JSONResponse:
        """The readiness probe: 200 when this process can verify tokens, else 503 and why."""
        state = await readiness.acheck(guard.verifier, sign_in)
        return JSONResponse(state.as_dict(), status_code=state.status_code)

    @app.get("/me")
    async def me(user: User) -> dict[str, Any]:
        return {"sub": user.sub, "username": user.username, "scopes": sorted(user.scopes)}

    @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
    async def list_orders(user: User) -> dict[str, Any]:
        return {"user": user.sub, "orders": []}

    # Security(...) scopes and require_scope are interchangeable; both forms are shown.
    @app.post("/orders", status_code=201)
    async def create_order(
        user: Annotated[CognitoClaims, Security(cognito_user, scopes=["orders/write"])],
    ) -> dict[str, Any]:
        return {"user": user.sub, "created": True}

    @app.get("/admin")
    async def admin(
        user: Annotated[CognitoClaims, Depends(require_group("admins"))],
    ) -> dict[str, Any]:
        return {"user": user.sub}

    # The handshake's Authorization header is checked before accept; a rejection closes it
    # with 1008, which uvicorn sends as HTTP 403.
    @app.websocket("/ws/orders")
    async def order_feed(
        websocket: WebSocket,
        user: Annotated[CognitoClaims, Security(cognito_user, scopes=["orders/read"])],
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"user": user.sub, "orders": []})
        await websocket.close()

    return app


def _from_env() -> FastAPI:
    if not os.environ.get("COGNITO_SIGN_IN_DOMAIN"):
        return create_app()
    verifier = verifier_from_env()
    return create_app(verifier, sign_in_from_env(verifier))


app = _from_env()
