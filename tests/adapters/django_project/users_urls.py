"""URLs of the users-in-the-database app (and the admin)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import users_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("me", users_views.me),
    path("whoami", users_views.whoami),
    path("claims", users_views.claims_only),
    path("orders", users_views.create_order),
    path("profile", users_views.profile),
    path("all-orders", users_views.all_orders),
    path("async-me", users_views.async_me),
    path("drf/me", users_views.DrfMe.as_view()),
]
