"""A model owned by the user, as applications hang them on ``request.user``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models


class Order(models.Model):
    owner: Any = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    item = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.item


class EmailUser(AbstractBaseUser):
    """A custom user model keyed by email only, for the ``cognito_guard.E004`` check test.

    It is never ``AUTH_USER_MODEL`` but in that one test (``override_settings``).
    """

    email = models.EmailField(unique=True)
    USERNAME_FIELD = "email"
