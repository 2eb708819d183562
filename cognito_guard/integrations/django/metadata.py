"""The RFC 9728 metadata document that :class:`CognitoMiddleware` serves with ``RESOURCE``.

The middleware answers requests for the resource's well-known path itself, before any view: no
URL include to forget, and the document stays public whatever the views demand. Its
``scopes_supported`` lists the verifier's ``SCOPES`` and the scopes the views of ``ROOT_URLCONF``
demand, as far as they can be seen: function views with the decorators, class-based views whose
handlers carry them (``method_decorator``), and Django REST framework views with
:class:`~cognito_guard.integrations.django.rest.HasScope` and ``required_scopes``. A view that
checks its scopes some other way is not seen.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver

from ...bearer import BearerGuard
from .._resource import ServedMetadata, marked_scopes

__all__ = ["metadata_response", "route_scopes", "served_metadata"]

_HANDLERS = ("dispatch", "get", "head", "post", "put", "patch", "delete", "options")


def served_metadata(guard: BearerGuard) -> ServedMetadata | None:
    """The document the middleware serves for ``guard``'s resource; None without ``RESOURCE``."""
    if guard.resource is None:
        return None
    return ServedMetadata(guard.resource, route_scopes)


def metadata_response(metadata: ServedMetadata, request: HttpRequest) -> HttpResponse:
    """The answer to ``request`` for the metadata path."""
    answer = metadata.response(request.method or "GET")
    headers = dict(answer.headers)
    response = HttpResponse(answer.body, status=answer.status, headers=headers)
    if "Content-Type" not in headers:
        del response["Content-Type"]  # Django's default, text/html, for a body that is none
    return response


def route_scopes() -> list[str]:
    """The scopes the views of ``ROOT_URLCONF`` demand (see the module documentation)."""
    return [scope for view in _views(get_resolver().url_patterns) for scope in _scopes_of(view)]


def _views(patterns: Iterable[Any]) -> Iterator[Any]:
    for pattern in patterns:
        inner = getattr(pattern, "url_patterns", None)  # an include()
        if inner is not None:
            yield from _views(inner)
        else:
            yield getattr(pattern, "callback", None)


def _scopes_of(view: Any) -> list[str]:
    scopes = list(marked_scopes(view))
    view_class = getattr(view, "view_class", None)  # View.as_view() and DRF's APIView.as_view()
    if isinstance(view_class, type):
        for name in _HANDLERS:
            scopes.extend(marked_scopes(getattr(view_class, name, None)))
        scopes.extend(_drf_scopes(view_class))
    return scopes


def _drf_scopes(view_class: type) -> list[str]:
    required = getattr(view_class, "required_scopes", None)
    if required is None:
        return []
    # A view using HasScope imported it: the module is loaded then (importing it here would
    # import Django REST framework, and the middleware through it).
    rest = sys.modules.get(__package__ + ".rest")
    has_scope = getattr(rest, "HasScope", None)
    if has_scope is None:
        return []
    permissions = getattr(view_class, "permission_classes", ())
    if not any(isinstance(p, type) and issubclass(p, has_scope) for p in permissions):
        return []  # required_scopes that nothing enforces are not demanded
    values = required.values() if isinstance(required, dict) else [required]
    return [
        scope
        for value in values
        for scope in ([value] if isinstance(value, str) else value)
        if isinstance(scope, str)
    ]
