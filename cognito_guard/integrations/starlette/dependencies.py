"""The dependencies of FastAPI routes (and plain Starlette code): the user, scopes and groups.

:data:`cognito_user`, :data:`cognito_user_optional`, :func:`require_scope` and
:func:`require_group` are plain async callables taking the request, which FastAPI calls with
``Depends``/``Security`` and Starlette code may await directly. With FastAPI installed they honour
``SecurityScopes`` and are, to FastAPI, the ``CognitoBearer`` HTTP bearer security scheme.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from ...bearer import Requirement
from ...claims import CognitoClaims
from ...errors import ConfigurationError
from ._compat import SchemeDependency
from .auth import authorize, claims_of, guard_of

__all__ = ["SCHEME_NAME", "cognito_user", "cognito_user_optional", "require_group", "require_scope"]

SCHEME_NAME = "CognitoBearer"
"""The name of the bearer security scheme in the OpenAPI document."""


class _SecurityScopes(Protocol):
    @property
    def scopes(self) -> Sequence[str]: ...


_KIND = inspect.Parameter.POSITIONAL_OR_KEYWORD
# What Starlette code and inspect see without FastAPI.
_PLAIN_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter("request", _KIND, annotation=HTTPConnection),
        inspect.Parameter("security_scopes", _KIND, default=None),
        inspect.Parameter("bearer", _KIND, default=None),
    ]
)


@functools.cache
def _fastapi_scheme() -> Any:
    """The ``CognitoBearer`` security scheme FastAPI documents, or None without FastAPI."""
    try:
        from fastapi.security import HTTPBearer
    except ImportError:
        return None

    class CognitoBearer(HTTPBearer):
        # Only here to document the scheme (OpenAPI, the Authorize button of /docs): FastAPI
        # never calls it, as the dependency that wraps it reads the header itself (with
        # parse_authorization, which HTTPConnection lets WebSocket routes use too).
        async def __call__(self, request: HTTPConnection) -> None:
            return None

    return CognitoBearer(
        bearerFormat="JWT",
        scheme_name=SCHEME_NAME,
        description="An Amazon Cognito access token: `Authorization: Bearer <token>`.",
        auto_error=False,
    )


@functools.cache
def _fastapi_signature() -> inspect.Signature | None:
    """The signature FastAPI should see, or None when FastAPI is not installed."""
    try:
        from fastapi.security import SecurityScopes
    except ImportError:
        return None
    # No Depends(scheme) sub-dependency: FastAPI solves every dependency with a recursion of its
    # own (parameters, cache key, call), which cost more than the verification of a cached token.
    # The dependency is the scheme instead (see _compat.SchemeDependency).
    return inspect.Signature(
        [
            inspect.Parameter("request", _KIND, annotation=HTTPConnection),
            inspect.Parameter("security_scopes", _KIND, annotation=SecurityScopes),
        ]
    )


class _Dependency(SchemeDependency):
    _scheme = staticmethod(_fastapi_scheme)

    def __init__(self, requirement: Requirement, name: str) -> None:
        self.requirement = requirement
        self._name = name

    def __repr__(self) -> str:
        return self._name

    @property
    def __signature__(self) -> inspect.Signature:
        # FastAPI reads the parameters from here; resolving them imports FastAPI, so this
        # only runs when FastAPI (or someone) inspects the dependency.
        return _fastapi_signature() or _PLAIN_SIGNATURE

    def _requirement(self, security_scopes: _SecurityScopes | None) -> Requirement:
        if security_scopes is None or not security_scopes.scopes:
            return self.requirement
        return _with_scopes(self.requirement, tuple(security_scopes.scopes))


@functools.lru_cache(maxsize=256)
def _with_scopes(requirement: Requirement, extra: tuple[str, ...]) -> Requirement:
    # The scopes of Security(..., scopes=[...]) are fixed per route: build (and validate) each
    # combination once. A scope with whitespace is refused here: no token could ever match it.
    scopes = requirement.scopes
    if any(len(scope) == 1 for scope in extra):
        # FastAPI iterates a string given as scopes=: "orders/read" arrives as "o", "r", ...
        # (no Cognito scope is a single character).
        raise ConfigurationError(
            f"Security(..., scopes=...) got a string, split into {list(extra)!r}: pass a list, "
            "scopes=['orders/read']"
        )
    try:
        return Requirement(
            scopes + tuple(s for s in dict.fromkeys(extra) if s not in scopes), requirement.groups
        )
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"Security(..., scopes={list(extra)!r}): {exc}; write scopes=['a', 'b']"
        ) from None


class _Required(_Dependency):
    async def __call__(
        self,
        request: HTTPConnection,
        security_scopes: _SecurityScopes | None = None,
        bearer: object = None,
    ) -> CognitoClaims:
        if security_scopes is None or not security_scopes.scopes:  # _requirement(), inlined
            return await authorize(request, self.requirement)
        return await authorize(
            request, _with_scopes(self.requirement, tuple(security_scopes.scopes))
        )


class _Optional(_Dependency):
    async def __call__(
        self,
        request: HTTPConnection,
        security_scopes: _SecurityScopes | None = None,
        bearer: object = None,
    ) -> CognitoClaims | None:
        if await claims_of(request, guard_of(request)) is None:
            return None
        return await authorize(request, self._requirement(security_scopes))


cognito_user = _Required(Requirement(), "cognito_user")
"""Dependency: the verified claims; 401 without a token, 401 ``invalid_token`` for a bad one.

Honours FastAPI's ``SecurityScopes``: ``Security(cognito_user, scopes=["orders/write"])``
also demands those scopes (403 ``insufficient_scope``). Works on WebSocket routes too.

Example::

    @app.get("/me")
    async def me(user: CognitoClaims = Depends(cognito_user)):
        return {"sub": user.sub}

    # plain Starlette: claims = await cognito_user(request)
"""

cognito_user_optional = _Optional(Requirement(), "cognito_user_optional")
"""Dependency: the verified claims, or None when the request carries no token.

A token that is present must still be valid (401 ``invalid_token``) and a malformed
``Authorization`` header is still a 400: only the absence of credentials is accepted.

Example::

    @app.get("/catalogue")
    async def catalogue(user: CognitoClaims | None = Depends(cognito_user_optional)):
        return {"personalised": user is not None}
"""


def require_scope(*scopes: str) -> Callable[..., Awaitable[CognitoClaims]]:
    """Dependency demanding every one of ``scopes`` (403 ``insufficient_scope`` otherwise).

    Returns the claims, and honours ``SecurityScopes`` like :data:`cognito_user`.

    Example::

        @app.get("/orders", dependencies=[Depends(require_scope("orders/read"))])
        async def orders(): ...
    """
    requirement = Requirement.decorator_args("require_scope", scopes=scopes)
    return _Required(requirement, f"require_scope{scopes!r}")


def require_group(*groups: str) -> Callable[..., Awaitable[CognitoClaims]]:
    """Dependency demanding that the user is in one of ``groups`` (403 otherwise).

    Example::

        @app.get("/admin", dependencies=[Depends(require_group("admins"))])
        async def admin(): ...
    """
    requirement = Requirement.decorator_args("require_group", groups=groups)
    return _Required(requirement, f"require_group{groups!r}")
