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
    from django.contrib import admin

    from cognito_guard.integrations.django.sessions import admin_login, logout_view

    urlpatterns += [
        path("", views.home),
        path("account", views.account),
        path("auth/", include("cognito_guard.integrations.django.urls")),
        # The admin signs in through Cognito: these two come before the admin's own URLs.
        path("admin/login/", admin_login),
        path("admin/logout/", logout_view),
        path("admin/", admin.site.urls),
    ]
