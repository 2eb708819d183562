"""Proxy-integration handlers checking the token themselves (no authorizer in front).

They work behind a REST API, an HTTP API, an Application Load Balancer or a function URL: the
decorators read the ``Authorization`` header as each event carries it, and a rejection answers
401/403/503 in the event's own response shape without calling the handler. Configured from
``COGNITO_USER_POOL_ID`` and ``COGNITO_CLIENT_ID`` by ``hydrate()`` at import, in Lambda's init
phase, which also fetches the pool's signing keys then.
"""

from __future__ import annotations

import json
from typing import Any

from cognito_guard.integrations.aws_lambda import claims_of, hydrate, require_auth, require_scope

# Once per instance, before any request waits: a settings mistake fails here, loudly; keys that
# cannot be fetched now are logged, and each request tries again.
hydrate()


def _json(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


@require_scope("orders/read")
def list_orders(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``GET /orders``: needs the ``orders/read`` scope."""
    return _json(200, {"user": claims_of(event).sub, "orders": []})


@require_scope("orders/write")
def create_order(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``POST /orders``: needs the ``orders/write`` scope."""
    order = json.loads(event.get("body") or "{}")
    return _json(201, {"user": claims_of(event).sub, "created": True, "order": order})


@require_auth
def me(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``GET /me``: any valid access token of the pool."""
    claims = claims_of(event)
    return _json(200, {"sub": claims.sub, "username": claims.username})
