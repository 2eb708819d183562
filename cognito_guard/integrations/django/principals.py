"""The request users cognito_guard makes without a database row: a user, or a service.

:class:`CognitoUser` is DRF's ``request.user`` by default; :class:`CognitoService` is
``request.user`` of a machine-to-machine token when
:class:`~cognito_guard.integrations.django.CognitoBackend` maps user tokens to rows.
"""

from __future__ import annotations

from ...claims import CognitoClaims

__all__ = ["CognitoService", "CognitoUser"]


class CognitoUser:
    """A user object wrapping verified claims, for code that expects ``request.user``.

    It is what :class:`~cognito_guard.integrations.django.rest.CognitoAuthentication` gives Django
    REST framework as ``request.user``; there is no database row behind it.

    Example::

        user = CognitoUser(claims)
        user.is_authenticated, user.pk, user.username   # True, claims.sub, "alice"
    """

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    is_service = False

    def __init__(self, claims: CognitoClaims) -> None:
        self.claims = claims

    @property
    def pk(self) -> str:
        """The token's ``sub`` (DRF's throttles key users by ``pk``)."""
        return self.claims.sub

    id = pk

    @property
    def username(self) -> str:
        """The Cognito username; the client id for a machine-to-machine token."""
        return self.claims.username or self.claims.sub

    @property
    def scopes(self) -> frozenset[str]:
        """The token's scopes."""
        return self.claims.scopes

    @property
    def groups(self) -> frozenset[str]:
        """The user's ``cognito:groups``."""
        return self.claims.groups

    def get_username(self) -> str:
        """The username, as Django's user models answer it."""
        return self.username

    def __str__(self) -> str:
        return self.username

    def __repr__(self) -> str:
        return f"CognitoUser(sub={self.claims.sub!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CognitoUser) and other.claims.sub == self.claims.sub

    def __hash__(self) -> int:
        return hash(self.claims.sub)


class CognitoService(CognitoUser):
    """``request.user`` of a machine-to-machine token when :class:`CognitoBackend` is on.

    A client-credentials token is issued to an app client, not to a person, so no database row is
    created for it: the principal says it is a service, and ``username`` is the client id.

    Example::

        if getattr(request.user, "is_service", False):
            ...   # a backend job calling the API, request.user.username == its client id
    """

    is_service = True

    def __repr__(self) -> str:
        return f"CognitoService(client_id={self.claims.client_id!r})"
