"""Orders belong to ``request.user``: the database row CognitoBackend links to the token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Order(models.Model):
    owner: Any = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    item = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "orders"

    def __str__(self) -> str:
        return self.item
