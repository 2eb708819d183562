"""URLs of the async reference app."""

from __future__ import annotations

from django.urls import path

from . import async_views

urlpatterns = [
    path("public", async_views.public),
    path("whoami", async_views.whoami),
    path("me", async_views.me),
    path("orders", async_views.orders),
    path("admin", async_views.admin),
]
