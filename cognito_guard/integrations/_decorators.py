"""``require_auth``, ``require_scope`` and ``require_group``, written once for the view adapters.

An adapter writes how its framework protects a view, ``protect(requirement, name)``: the decorator
that lets a request reach the view only with a verified token meeting ``requirement`` (``name``
is the public decorator's, for error messages). :class:`RouteDecorators` builds the three public
decorators on it, so that Flask's and Django's take the same arguments and refuse the same
mistakes (:meth:`~cognito_guard.bearer.Requirement.decorator_args`). The adapter's module
exports them::

    require_auth, require_scope, require_group = RouteDecorators(_protect).decorators()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, overload

from ..bearer import Requirement

__all__ = ["RouteDecorators"]

View = TypeVar("View", bound=Callable[..., Any])


class Protect(Protocol):
    """An adapter's ``protect(requirement, name)``: the decorator demanding ``requirement``."""

    def __call__(self, requirement: Requirement, name: str, /) -> Callable[[View], View]: ...


class RequireAuth(Protocol):
    """``require_auth``: used bare (``@require_auth``) or called (``@require_auth()``)."""

    @overload
    def __call__(self, view: View) -> View: ...
    @overload
    def __call__(self, view: None = None) -> Callable[[View], View]: ...


class RequireNames(Protocol):
    """``require_scope(*scopes)`` or ``require_group(*groups)``."""

    def __call__(self, *names: str) -> Callable[[View], View]: ...


class RouteDecorators:
    """The three view decorators of one adapter, on its ``protect`` (see the module)."""

    __slots__ = ("_protect",)

    def __init__(self, protect: Protect) -> None:
        self._protect = protect

    def decorators(self) -> tuple[RequireAuth, RequireNames, RequireNames]:
        """``require_auth``, ``require_scope`` and ``require_group``, in this order."""
        return self.require_auth, self.require_scope, self.require_group

    @overload
    def require_auth(self, view: View) -> View: ...
    @overload
    def require_auth(self, view: None = None) -> Callable[[View], View]: ...
    def require_auth(self, view: View | None = None) -> View | Callable[[View], View]:
        """Let only requests with a valid bearer token reach the view (sync or async).

        ``@require_auth`` and ``@require_auth()`` are the same. Without a token the answer is
        401 with a bare ``Bearer`` challenge; with a malformed ``Authorization`` header 400
        ``invalid_request``; with a rejected token 401 ``invalid_token``; 503 with
        ``Retry-After`` when the signing keys cannot be had. Under a route decorator, put it
        below (the route decorator outermost).

        Example: ``@require_auth`` above ``def me(...)``
        """
        decorate: Callable[[View], View] = self._protect(Requirement(), "require_auth")
        return decorate if view is None else decorate(view)

    def require_scope(self, *scopes: str) -> Callable[[View], View]:
        """Like :meth:`require_auth`, and the token must have every one of ``scopes`` (else 403
        ``insufficient_scope``).

        Example: ``@require_scope("orders/read", "orders/write")``
        """
        requirement = Requirement.decorator_args("require_scope", scopes=scopes)
        return self._protect(requirement, "require_scope")

    def require_group(self, *groups: str) -> Callable[[View], View]:
        """Like :meth:`require_auth`, and the user must be in at least one of ``groups`` (else
        403 ``insufficient_scope``).

        Example: ``@require_group("admins", "support")``
        """
        requirement = Requirement.decorator_args("require_group", groups=groups)
        return self._protect(requirement, "require_group")
