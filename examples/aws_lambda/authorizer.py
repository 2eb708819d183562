"""A Lambda authorizer for the orders API (see template.yaml), from the COGNITO_* environment.

API Gateway calls ``handler`` with a TOKEN event here; the same handler answers REQUEST, HTTP API
(payload 2.0), WebSocket ``$connect`` and AppSync events. It returns one policy for the whole
API, so the policy API Gateway caches for a token (``ReauthorizeEvery`` in template.yaml) never
opens a route the token does not meet::

    COGNITO_USER_POOL_ID=eu-west-1_AbCdEf123 COGNITO_CLIENT_ID=4a1b2c3d4e5f6g7h8i9j0k1l2m
"""

from __future__ import annotations

from cognito_guard import Requirement
from cognito_guard.integrations.aws_lambda import LambdaGuard

# Module level runs once per instance, in Lambda's init phase: the settings are read (and a
# mistake in them fails the deployment's first invocation loudly) and the pool's signing keys
# fetched (hydrate=True, the default) before any request waits.
guard = LambdaGuard()

handler = guard.authorizer(
    protect={
        "GET /orders": Requirement.of(scopes="orders/read"),
        "POST /orders": Requirement.of(scopes="orders/write"),
        "/": Requirement(),  # every other route: any valid token of the pool
    }
)
