"""The link between a Cognito user and a row of ``AUTH_USER_MODEL``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ...issuers import canonical_issuer

__all__ = ["CognitoIdentity"]


class CognitoIdentity(models.Model):
    """One Cognito user (pool + ``sub``) linked to one ``AUTH_USER_MODEL`` row.

    ``sub`` is the stable id of a Cognito user (usernames and emails change), unique within its
    pool only: hence the pool in the key. ``issuer`` is the pool's
    :func:`~cognito_guard.issuers.canonical_issuer` (the original form), whichever of the two
    issuer forms a token carries: both name one pool, and one user must be one row. ``save()``
    writes it so. ``synced_groups`` records the group names this app put the user in from
    ``cognito:groups`` (with ``SYNC_GROUPS``), so that groups given in Django are never taken
    away by a sync.

    Example::

        CognitoIdentity.objects.get(issuer=canonical_issuer(claims.issuer), sub=claims.sub).user
    """

    user: Any = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cognito_identities"
    )
    issuer: models.CharField[str, str] = models.CharField(max_length=255)
    sub: models.CharField[str, str] = models.CharField(max_length=255)
    synced_groups: models.JSONField[Any, Any] = models.JSONField(default=list, blank=True)
    created_at: models.DateTimeField[Any, Any] = models.DateTimeField(auto_now_add=True)
    updated_at: models.DateTimeField[Any, Any] = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Cognito identity"
        verbose_name_plural = "Cognito identities"
        constraints = [  # noqa: RUF012 - Django's Meta
            models.UniqueConstraint(fields=["issuer", "sub"], name="cognito_guard_issuer_sub"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save with ``issuer`` in its canonical form (a link typed in the other form included)."""
        self.issuer = canonical_issuer(self.issuer)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.sub} @ {self.issuer}"
