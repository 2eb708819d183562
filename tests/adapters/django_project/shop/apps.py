"""The test project's app: Order, and a user admin showing the linked Cognito identity."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "tests.adapters.django_project.shop"
    label = "shop"
    default_auto_field = "django.db.models.BigAutoField"
