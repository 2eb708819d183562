"""The orders in the admin (installed with web sign-in: see settings.py)."""

from __future__ import annotations

from django.contrib import admin

from .models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("item", "owner", "created_at")
