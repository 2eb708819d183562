"""What every adapter shares to serve its RFC 9728 metadata: the path, the scopes, the answer.

An adapter given ``resource=`` (Django: ``COGNITO_GUARD["RESOURCE"]``) answers requests for the
resource's well-known path itself, before any rule or decorator looks at them: the document is
public. ``scopes_supported`` lists the scopes the application demands, as far as the adapter can
know them: the verifier's own, and those of the route requirements it can see (the decorators
and dependencies record theirs on the views they wrap with :func:`mark`). The list is sorted, so
that every adapter serves the same bytes for the same application.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..bearer import Requirement
from ..errors import ConfigurationError
from ..resource import MetadataResponse, ProtectedResource

__all__ = [
    "REQUIREMENTS_ATTR",
    "ServedMetadata",
    "mark",
    "marked_scopes",
    "requirement_scopes",
]

T = TypeVar("T")

REQUIREMENTS_ATTR = "_cognito_guard_requirements"
"""The attribute of a decorated view holding the :class:`Requirement` s its decorators demand."""

# RFC 3986 pchar without percent-encoding, and "/": every server hands such a path to the
# application exactly as it is written, so comparing it with the request's path needs no decoding
# (which WSGI, ASGI and the frameworks each do differently).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]+")


def mark(wrapper: T, requirement: Requirement) -> T:
    """``wrapper``, a decorator's, recording that the view demands ``requirement``.

    ``functools.wraps`` copies a wrapped view's attributes, so the requirements of stacked
    decorators (and of Django's ``method_decorator``) add up on the outermost function.
    """
    previous: tuple[Requirement, ...] = getattr(wrapper, REQUIREMENTS_ATTR, ())
    setattr(wrapper, REQUIREMENTS_ATTR, (*previous, requirement))
    return wrapper


def marked_scopes(view: object) -> tuple[str, ...]:
    """The scopes the decorators recorded on ``view`` with :func:`mark` (``()`` for none)."""
    requirements = getattr(view, REQUIREMENTS_ATTR, ())
    if not isinstance(requirements, tuple):
        return ()
    return tuple(
        scope
        for requirement in requirements
        if isinstance(requirement, Requirement)
        for scope in requirement.scopes
    )


class ServedMetadata:
    """The metadata document an adapter serves at :attr:`path`.

    ``route_scopes`` returns the scopes the application's routes demand; it is called once, at
    the first request for the document, when every route is declared.

    Example::

        metadata = ServedMetadata(guard.resource, lambda: ["orders/read"])
        if path == metadata.path:
            response = metadata.response(method)   # status, headers, body
    """

    def __init__(
        self,
        resource: ProtectedResource,
        route_scopes: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        path = resource.metadata_path
        if not _PLAIN_PATH.fullmatch(path):
            raise ConfigurationError(
                f"resource {resource.resource!r}: its path must be plain ASCII letters, digits "
                "and -._~!$&'()*+,;=:@/ without percent-encoding, so that the well-known path "
                f"{path!r} reaches the application as it is written"
            )
        self.path = path
        self._base = resource
        self._route_scopes = route_scopes
        self._served: ProtectedResource | None = None

    @property
    def resource(self) -> ProtectedResource:
        """The resource with every scope the application is known to demand, sorted."""
        served = self._served
        if served is None:
            scopes = set(self._base.scopes_supported)
            if self._route_scopes is not None:
                scopes.update(self._route_scopes())
            # Two threads may both build it: the result is the same, and either is kept.
            served = dataclasses.replace(self._base, scopes_supported=tuple(sorted(scopes)))
            self._served = served
        return served

    def response(self, method: str) -> MetadataResponse:
        """The answer to a ``method`` request for :attr:`path`."""
        return self.resource.response(method.upper())


def requirement_scopes(requirements: Iterable[Requirement | None]) -> tuple[str, ...]:
    """Every scope of ``requirements`` (None, a public rule, demands none)."""
    return tuple(s for r in requirements if r is not None for s in r.scopes)
