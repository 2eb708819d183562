"""The web sign-in URLs for Django: ``path("auth/", include(...))`` mounts the four routes.

Example::

    urlpatterns = [..., path("auth/", include("cognito_guard.integrations.django.urls"))]

The include's prefix should be the :class:`~cognito_guard.sessions.WebSignIn`'s ``prefix``
(``/auth`` by default), which its ``login_url`` and redirect URI use.
"""

from __future__ import annotations

from django.urls import path

from ...sessions.web import ROUTES
from .sessions import route_view

app_name = "cognito_guard_sign_in"

urlpatterns = [path(name, route_view(name), name=name) for name, _method in ROUTES]
