"""What the routes demand: the start-up checks of dependencies written in a way that would not
protect them, and the scopes the routes demand (for the RFC 9728 metadata document)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from ...errors import ConfigurationError
from .._resource import marked_scopes
from ._compat import dependency_calls, every_route, security_dependencies, when_built
from .dependencies import _Dependency, require_group, require_scope

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["check_routes_when_built", "route_scopes"]


def _misused(app: Starlette) -> list[str]:
    factories = {require_scope: "require_scope", require_group: "require_group"}
    found: list[str] = []
    for route in every_route(app.routes):
        where = repr(getattr(route, "path", route))
        calls = list(dependency_calls(route))
        for call in calls:
            name = factories.get(call) if callable(call) else None
            if name is not None:
                found.append(
                    f"{where} uses Depends({name}) without calling it: "
                    f"write Depends({name}('orders/read')), the names it demands"
                )
        endpoint = getattr(route, "endpoint", None)
        for call in (endpoint, *calls) if getattr(route, "dependant", None) else ():
            found.extend(f"{where}: {problem}" for problem in _bare_defaults(call))
    return found


def _bare_defaults(call: object) -> list[str]:
    # "user = cognito_user" without Depends(...): FastAPI takes it for a query parameter with a
    # default, and the route is served to anyone.
    if isinstance(call, _Dependency) or not callable(call):
        return []
    try:
        parameters = inspect.signature(call).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        f"parameter {p.name!r} has the default {p.default!r} without Depends(): write "
        f"{p.name} = Depends({p.default!r}), or Annotated[..., Depends({p.default!r})]"
        for p in parameters
        if isinstance(p.default, _Dependency)
    ]


def check_routes_when_built(app: Starlette) -> None:
    """Refuse a misused dependency when Starlette builds ``app`` (first request or lifespan
    start-up, after every route is declared); a failed check refuses every request."""

    def check() -> None:
        problems = _misused(app)
        if problems:
            raise ConfigurationError("; ".join(problems))

    when_built(app, check)


def route_scopes(app: Starlette) -> list[str]:
    """The scopes the routes of ``app`` demand: of the dependencies (with their
    ``Security(..., scopes=...)``) and of the endpoints that :func:`~.backend.requires` wraps."""
    found: list[str] = []
    for route in every_route(app.routes):
        found.extend(marked_scopes(getattr(route, "endpoint", None)))
        for call, scopes in security_dependencies(route):
            if isinstance(call, _Dependency):
                found.extend((*call.requirement.scopes, *scopes))
    return found
