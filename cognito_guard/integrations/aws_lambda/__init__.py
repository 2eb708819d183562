"""AWS Lambda: a Lambda authorizer for API Gateway and AppSync, and proxy-handler decorators.

Example::

    from cognito_guard import CognitoVerifier, Requirement
    from cognito_guard.integrations.aws_lambda import LambdaGuard

    guard = LambdaGuard(verifier)                    # None: verifier_from_env() (COGNITO_*);
                                                     # the pool's keys are fetched now (hydrate)

    # 1. An authorizer: REST (TOKEN, REQUEST), HTTP API (2.0), WebSocket $connect, AppSync.
    handler = guard.authorizer(protect={
        "GET /orders": Requirement.of(scopes="orders/read"),
        "POST /orders": Requirement.of(scopes="orders/write"),
        "/": Requirement(),
    })

    # 2. Proxy handlers: REST (v1), HTTP API (v2), ALB, function URLs.
    @guard.require_scope("orders/read")              # require_auth, require_group(...) too
    def orders(event, context):
        claims = guard.claims(event)                 # the verified CognitoClaims
        return {"statusCode": 200, "body": json.dumps({"sub": claims.sub})}

The module-level :func:`authorizer`, :func:`require_auth`, :func:`require_scope`,
:func:`require_group` and :func:`claims_of` do the same on a default guard built from the
``COGNITO_*`` environment (:func:`~cognito_guard.config.verifier_from_env`) the first time one of
them handles an event; decorator arguments and ``protect`` rules are checked at once. Call
:func:`hydrate` at module level to read the environment and fetch the keys in the init phase.

An authorizer answers a missing or invalid token with ``Exception("Unauthorized")`` (API Gateway
answers 401), a valid token with a policy for the whole API (see
:mod:`cognito_guard.integrations.aws_lambda._policy`: a cached policy never allows a route the
token does not meet), and keys or revocations it cannot check with the typed
:class:`~cognito_guard.ServiceUnavailableError` (API Gateway answers 500). A proxy handler's
rejection never calls the handler: it answers 400, 401, 403 or 503 in the event's own response
shape, with the same ``WWW-Authenticate``, ``Retry-After`` and JSON body as every other adapter.

Nothing here imports a web framework, Redis or asyncio: a function pays only for what it uses.
"""

from __future__ import annotations

from ._guard import Authorizer, EnvironmentGuard, LambdaGuard

__all__ = [
    "Authorizer",
    "LambdaGuard",
    "authorizer",
    "claims_of",
    "default_guard",
    "hydrate",
    "require_auth",
    "require_group",
    "require_scope",
]

# A deliberate process-wide instance: a Lambda instance serves one configuration, read from the
# environment when the first event arrives.
_default = EnvironmentGuard()


def default_guard() -> LambdaGuard:
    """The guard of the module-level shortcuts (configured from ``COGNITO_*`` on first use)."""
    return _default


authorizer = _default.authorizer
"""``authorizer(protect=None, *, scopes=(), groups=(), ...)``: :meth:`LambdaGuard.authorizer`
on the default guard. Example: ``handler = authorizer(scopes="orders/read")``."""

require_auth = _default.require_auth
"""``@require_auth`` or ``@require_auth()``: any valid token."""

require_scope = _default.require_scope
"""``@require_scope("orders/read", ...)``: every one of the scopes."""

require_group = _default.require_group
"""``@require_group("admins", ...)``: one of the groups."""

hydrate = _default.hydrate
"""``hydrate()``: read the ``COGNITO_*`` environment and fetch the pool's signing keys now (see
:meth:`LambdaGuard.hydrate`). Call it at module level, so that Lambda's init phase does both."""

claims_of = _default.claims
"""``claims_of(event)``: the verified claims of the event (see :meth:`LambdaGuard.claims`);
inside a decorated handler, what its decorator verified, whichever guard did."""
