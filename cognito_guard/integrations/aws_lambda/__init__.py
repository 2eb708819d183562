"""AWS Lambda: a Lambda authorizer for API Gateway and AppSync, and proxy-handler decorators.

Example::

    from cognito_guard import CognitoVerifier, Requirement
    from cognito_guard.integrations.aws_lambda import LambdaGuard

    guard = LambdaGuard(verifier)                    # None: verifier_from_env() (COGNITO_*)

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
them handles an event; decorator arguments and ``protect`` rules are checked at once.

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

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from ...bearer import Requirement
from ...claims import CognitoClaims
from ...rules import Protect
from ._guard import Authorizer, Handler, LambdaGuard, _protect, current_claims

__all__ = [
    "Authorizer",
    "LambdaGuard",
    "authorizer",
    "claims_of",
    "default_guard",
    "require_auth",
    "require_group",
    "require_scope",
]

H = TypeVar("H", bound=Handler)

_default: LambdaGuard | None = None
_default_lock = threading.Lock()


def default_guard() -> LambdaGuard:
    """The guard of the module-level shortcuts, built from the environment on first use.

    A deliberate process-wide cache: a Lambda instance serves one configuration. Raises
    :class:`~cognito_guard.ConfigurationError` when the ``COGNITO_*`` variables are wrong.
    """
    global _default
    guard = _default
    if guard is None:
        with _default_lock:
            if _default is None:
                _default = LambdaGuard()
            guard = _default
    return guard


def authorizer(
    protect: Protect | None = None,
    *,
    scopes: Iterable[str] = (),
    groups: Iterable[str] = (),
    simple_response: bool = True,
    appsync_ttl: int = 300,
) -> Authorizer:
    """:meth:`LambdaGuard.authorizer` on :func:`default_guard`.

    Example: ``handler = authorizer(scopes="orders/read")``
    """
    return Authorizer(
        default_guard,
        protect,
        scopes,
        groups,
        simple_response=simple_response,
        appsync_ttl=appsync_ttl,
    )


@overload
def require_auth(handler: H) -> H: ...


@overload
def require_auth(handler: None = None) -> Callable[[H], H]: ...


def require_auth(handler: H | None = None) -> H | Callable[[H], H]:
    """Demand any valid token: ``@require_auth`` or ``@require_auth()``."""
    if handler is None:
        return lambda inner: _protect(default_guard, inner, Requirement())
    return _protect(default_guard, handler, Requirement())


def require_scope(*scopes: str) -> Callable[[H], H]:
    """Demand every one of ``scopes``: ``@require_scope("orders/read")``."""
    requirement = Requirement.decorator_args("require_scope", scopes=scopes)
    return lambda handler: _protect(default_guard, handler, requirement)


def require_group(*groups: str) -> Callable[[H], H]:
    """Demand one of ``groups``: ``@require_group("admins")``."""
    requirement = Requirement.decorator_args("require_group", groups=groups)
    return lambda handler: _protect(default_guard, handler, requirement)


def claims_of(event: Any) -> CognitoClaims:
    """The verified claims of ``event`` (see :meth:`LambdaGuard.claims`), on the default guard.

    Inside a decorated handler it returns what the decorator verified, whichever guard did.
    """
    claims = current_claims(event)
    return claims if claims is not None else default_guard().claims(event)
