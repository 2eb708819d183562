"""URLs of the example project (the routes of tests/adapters/matrix.py)."""

from __future__ import annotations

import views
from django.conf import settings
from django.urls import include, path

urlpatterns = [
    path("public", views.public),
    path("ready", views.ready),  # the readiness probe
    path("me", views.me),
    path("orders", views.orders),
    path("admin", views.admin),
]
if "SIGN_IN" in getattr(settings, "COGNITO_GUARD", {}):  # web sign-in (see settings.py)
    urlpatterns += [
        path("", views.home),
        path("account", views.account),
        path("auth/", include("cognito_guard.integrations.django.urls")),
    ]
