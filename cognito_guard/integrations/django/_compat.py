"""Where the Django adapter relies on Django or Django REST framework beyond their documented API.

Each reach is one function here, and ``tests/adapters/test_django_compat.py`` holds a test per
function that fails if the framework changes under it. Nothing here imports DRF: its reaches are
attribute names only, so this module loads without it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

__all__ = ["drf_django_request", "has_user", "migrations_module", "set_drf_headers", "set_user"]


def drf_django_request(request: Any) -> Any:
    """The Django request a DRF ``Request`` wraps (its ``_request``); None for anything else."""
    return getattr(request, "_request", None)


def set_drf_headers(exc: Any, challenge: str | None, retry_after: str | None) -> None:
    """Give a DRF ``APIException`` the two headers DRF's own exception handler writes.

    That handler reads ``exc.auth_header`` into ``WWW-Authenticate`` and ``exc.wait`` into
    ``Retry-After``, so a project that keeps DRF's handler still gets both.
    """
    exc.auth_header = challenge
    exc.wait = int(retry_after) if retry_after else None


def has_user(request: HttpRequest) -> bool:
    """Whether an earlier middleware set ``request.user``, without evaluating it.

    Django's ``AuthenticationMiddleware`` stores a lazy object on the request itself; reading
    ``request.user`` would run its session lookup, so the request's ``__dict__`` is asked.
    """
    return "user" in request.__dict__


def set_user(request: HttpRequest, user: Any) -> None:
    """Set ``request.user`` and ``request.auser()``, the pair ``AuthenticationMiddleware`` sets
    (``auser`` since Django 5.0), so that sync and async views both find ``user``."""

    async def auser() -> Any:
        return user

    target: Any = request
    target.user, target.auser = user, auser


def migrations_module(label: str) -> str | None:
    """The module Django loads the migrations of app ``label`` from; None when
    ``MIGRATION_MODULES`` disables them (``MigrationLoader.migrations_module``)."""
    from django.db.migrations.loader import MigrationLoader

    module_name, _explicit = MigrationLoader.migrations_module(label)
    return module_name
