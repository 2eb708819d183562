"""The authentication backend that turns verified Cognito claims into ``AUTH_USER_MODEL`` rows."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from ...claims import CognitoClaims
from .settings import build_verifier, user_settings
from .users import UserLinker, UserRefusedError

__all__ = ["CognitoBackend"]


class CognitoBackend(ModelBackend):
    """Maps a verified Cognito token to its linked user; put it in ``AUTHENTICATION_BACKENDS``.

    Its presence there is what turns the mapping on: :class:`CognitoMiddleware` then sets
    ``request.user`` to the row linked to the token's pool and ``sub``. It never checks a password
    (it accepts verified claims only) and inherits :class:`~django.contrib.auth.backends.
    ModelBackend`'s permissions, so ``user.has_perm`` works through the synced groups.

    ``cache_seconds`` bounds how long this process trusts its cached link ``(pool, sub) -> user
    id`` (and what it last synced) before looking the identity up again; saving or deleting the
    user or the identity in this process invalidates the entry at once. The user row, and its
    ``is_active``, is read on every request whatever this says. Subclass to change it.

    Example::

        AUTHENTICATION_BACKENDS = ["cognito_guard.integrations.django.CognitoBackend",
                                   "django.contrib.auth.backends.ModelBackend"]
    """

    cache_seconds: float = 30.0

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, cognito_claims: CognitoClaims | None = None, **_: Any
    ) -> Any:
        """The user linked to ``cognito_claims`` (created if allowed), or None.

        None for anything but verified user claims (so passwords go to the next backend), for an
        unknown user with ``CREATE_USERS`` False, and for an inactive user.

        Example: ``authenticate(request, cognito_claims=request.cognito_user)``
        """
        if not isinstance(cognito_claims, CognitoClaims) or cognito_claims.is_machine:
            return None
        # The verifier's pools decide how SYNC_GROUPS names groups, as in the middleware.
        linker = UserLinker(self, user_settings(), issuers=build_verifier().issuers)
        try:
            return linker.user_of(cognito_claims)
        except UserRefusedError:
            return None
