"""URLs of the Django REST framework reference app."""

from __future__ import annotations

from django.urls import path

from . import drf_views

urlpatterns = [
    path("public", drf_views.Public.as_view()),
    path("me", drf_views.Me.as_view()),
    path("orders", drf_views.Orders.as_view()),
    path("admin", drf_views.Admin.as_view()),
    path("plain", drf_views.PlainIsAuthenticated.as_view()),
]
