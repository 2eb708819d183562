"""The admin of the linked identities: a list of its own, and an inline for your user admin."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import CognitoIdentity

__all__ = ["CognitoIdentityAdmin", "CognitoIdentityInline"]


@admin.register(CognitoIdentity)
class CognitoIdentityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Which Cognito user (issuer, sub) is which local user; read-only links.

    Example: ``/admin/cognito_guard/cognitoidentity/?q=alice``
    """

    list_display = ("user", "sub", "issuer", "created_at", "updated_at")
    list_select_related = ("user",)
    search_fields = ("sub", "issuer")
    list_filter = ("issuer",)
    raw_id_fields = ("user",)
    readonly_fields = ("issuer", "sub", "synced_groups", "created_at", "updated_at")

    def get_search_fields(self, request: Any) -> tuple[str, ...]:
        from django.contrib.auth import get_user_model

        return (*self.search_fields, f"user__{get_user_model().USERNAME_FIELD}")


class CognitoIdentityInline(admin.TabularInline):  # type: ignore[type-arg]
    """The linked identities on a user's page; add it to your user admin's ``inlines``.

    Example::

        from django.contrib.auth.admin import UserAdmin
        class MyUserAdmin(UserAdmin):
            inlines = [CognitoIdentityInline]
    """

    model = CognitoIdentity
    extra = 0
    can_delete = True
    fields = ("issuer", "sub", "synced_groups", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # links are made by signing in, never typed in
