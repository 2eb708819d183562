"""URLs of the sync reference app."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("public", views.public),
    path("whoami", views.whoami),
    path("me", views.me),
    path("orders", views.Orders.as_view()),
    path("admin", views.Admin.as_view()),
]
