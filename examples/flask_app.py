"""The reference API of cognito_guard's behaviour matrix, in Flask.

Configured from the environment (``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID`` and optionally
``COGNITO_TOKEN_USE``, ``COGNITO_JWKS_URI``); a missing setting stops it at start-up.

Run it with waitress on 127.0.0.1::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b... python examples/flask_app.py

or serve ``examples.flask_app:app`` with any WSGI server.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from cognito_guard import CognitoVerifier
from cognito_guard.integrations.flask import (
    CognitoGuard,
    current_cognito_user,
    require_auth,
    require_group,
    require_scope,
)


def create_app(
    config: Mapping[str, Any] | None = None, *, verifier: CognitoVerifier | None = None
) -> Flask:
    """The reference app; settings from ``config``, else from the environment."""
    app = Flask(__name__)
    app.config.from_mapping(config or {})
    CognitoGuard(app, verifier=verifier)

    @app.get("/public")
    def public() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/me")
    @require_auth
    def me() -> dict[str, Any]:
        return {
            "sub": current_cognito_user.sub,
            "username": current_cognito_user.username,
            "scopes": sorted(current_cognito_user.scopes),
        }

    @app.get("/orders")
    @require_scope("orders/read")
    def list_orders() -> dict[str, Any]:
        return {"user": current_cognito_user.sub, "orders": []}

    @app.post("/orders")
    @require_scope("orders/write")
    def create_order() -> tuple[dict[str, Any], int]:
        return {"user": current_cognito_user.sub, "created": True}, 201

    @app.get("/admin")
    @require_group("admins")
    def admin() -> dict[str, Any]:
        return {"user": current_cognito_user.sub}

    return app


app = create_app()

if __name__ == "__main__":
    from waitress import serve

    serve(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
