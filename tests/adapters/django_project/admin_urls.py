"""URLs of the staff-site project: web sign-in, the admin signing in through Cognito, views.

``/admin/logout/`` stays Django's own (its ``user_logged_out`` must end the web sign-in session);
the package's logout view is at ``/signout``.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from cognito_guard.integrations.django.sessions import admin_login, logout_view

from . import users_views

staff_site = AdminSite(name="staff")  # a second admin site, with nothing registered

urlpatterns = [
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("staff/login/", admin_login, {"site": staff_site}),
    path("staff/", staff_site.urls),
    path("auth/", include("cognito_guard.integrations.django.urls")),
    path("signout", logout_view),
    path("me", users_views.me),
    path("orders", users_views.create_order),
    path("exempt-orders", csrf_exempt(users_views.create_order)),
]
