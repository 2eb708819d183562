"""The user admin with the linked Cognito identities inline (as the docs show it)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from cognito_guard.integrations.django.admin import CognitoIdentityInline

from .models import Order

admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class CognitoUserAdmin(UserAdmin):  # type: ignore[type-arg]
    inlines = (CognitoIdentityInline,)


admin.site.register(Order)
