"""The reference app of the adapter matrix (tests/adapters/matrix.py), with FastAPI.

Configured from ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` (and optionally
``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``, ...); missing or invalid settings stop the server at
start-up with a ConfigurationError. Run it with::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b2c3d4e5f6g7h8i9j0k1l2m \\
        uvicorn fastapi_app:app --app-dir examples

then open http://127.0.0.1:8000/docs and use the Authorize button with an access token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security, WebSocket

from cognito_guard import CognitoClaims, CognitoVerifier
from cognito_guard.integrations.starlette import (
    CognitoGuard,
    cognito_user,
    require_group,
    require_scope,
)

User = Annotated[CognitoClaims, Depends(cognito_user)]


def create_app(verifier: CognitoVerifier | None = None) -> FastAPI:
    """The reference app; ``verifier`` defaults to one built from the COGNITO_* variables."""
    app = FastAPI(title="cognito_guard reference app")
    CognitoGuard(app, verifier=verifier)

    @app.get("/public")
    async def public() -> dict[str, Any]:
        return {"ok": True}

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


app = create_app()
