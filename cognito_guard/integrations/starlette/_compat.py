"""The Starlette and FastAPI internals the Starlette integration relies on, in one place.

Each is named here with what it relies on; ``tests/adapters/test_compat_starlette.py`` fails when
a release of either framework changes one of them under us.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "STATE_DICT",
    "SchemeDependency",
    "dependency_calls",
    "every_route",
    "security_dependencies",
    "when_built",
]

STATE_DICT = "_state"
"""The attribute of Starlette's ``State`` holding its values as a dict: reading it there skips
``State.__getattr__`` (a Python call) on every request."""


def when_built(app: Any, check: Callable[[], None]) -> bool:
    """Run ``check`` when Starlette builds ``app``'s middleware stack; False if it builds none.

    Relies on ``Starlette.build_middleware_stack``, called once when the first request (or the
    lifespan start-up) arrives, after every route is declared: ``check`` runs then, at no cost
    per request. A check that raises leaves the stack unbuilt, so every request is refused.
    """
    build = getattr(app, "build_middleware_stack", None)
    if build is None:  # not a Starlette application: nothing is built lazily to hook
        return False

    def build_after_checking() -> Any:
        check()
        return build()

    app.build_middleware_stack = build_after_checking
    return True


def every_route(routes: Sequence[Any]) -> Iterator[Any]:
    """Every route of ``routes``, those of mounts, hosts and sub-applications included.

    Relies on ``fastapi.routing.iter_route_contexts``: recent FastAPI keeps included routers
    lazily (their routes merged with the router's dependencies on demand), and its own iterator
    gives the routes as the OpenAPI document sees them. FastAPI is not imported for that: without
    it loaded there is no FastAPI route. Mounts are found by their ``routes`` attribute.
    """
    fastapi_routing = sys.modules.get("fastapi.routing")
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    for route in iterate(routes) if iterate is not None else routes:
        yield route
        inner = getattr(route, "routes", None)  # Mount, Host, an included sub-application
        if isinstance(inner, Sequence):
            yield from every_route(inner)


def dependency_calls(route: object) -> Iterator[Any]:
    """Every dependency callable of a FastAPI route (its dependant tree), or nothing.

    Relies on FastAPI's ``route.dependant``, whose ``dependencies`` are dependants with a
    ``call`` each.
    """
    for call, _scopes in security_dependencies(route):
        yield call


def security_dependencies(route: object) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Every dependency callable of a FastAPI route, with the scopes of its ``Security(...)``.

    Relies on FastAPI's ``route.dependant`` (see :func:`dependency_calls`) and on each
    dependant's ``own_oauth_scopes`` (``security_scopes`` in FastAPI releases before it): the
    ``scopes=`` of that ``Security(...)`` itself (``()`` for a ``Depends``).
    """
    stack = [getattr(route, "dependant", None)]
    while stack:
        dependant = stack.pop()
        if dependant is None:
            continue
        for sub in getattr(dependant, "dependencies", ()):
            scopes = getattr(sub, "own_oauth_scopes", getattr(sub, "security_scopes", None))
            yield sub.call, tuple(s for s in scopes or () if isinstance(s, str))
            stack.append(sub)


class SchemeDependency:
    """Base of a dependency that FastAPI documents as the security scheme ``_scheme()`` returns.

    Relies on FastAPI unwrapping each dependency (``inspect.unwrap``, in
    ``fastapi.dependencies.models``) to tell a security scheme: it takes this object for the
    scheme behind ``__wrapped__``, documents it (with the ``Security(...)`` scopes) in the OpenAPI
    document, and solves it as one dependency, not two. Its call and parameters stay the
    subclass's own, provided it sets ``__signature__`` (which stops ``inspect.signature`` there).
    """

    __slots__ = ()

    @staticmethod
    def _scheme() -> Any:
        """The security scheme object FastAPI should document, or None (no FastAPI)."""
        return None

    @property
    def __wrapped__(self) -> Any:
        scheme = self._scheme()
        if scheme is None:
            raise AttributeError("__wrapped__")
        return scheme
