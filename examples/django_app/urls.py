"""URLs of the example project (the routes of tests/adapters/matrix.py)."""

from __future__ import annotations

import views
from django.urls import path

urlpatterns = [
    path("public", views.public),
    path("me", views.me),
    path("orders", views.orders),
    path("admin", views.admin),
]
