"""Cognito users as ``AUTH_USER_MODEL`` rows: the link and the sync (the cache is ``identities``).

A request with a valid user token is linked by its pool and ``sub`` to a
:class:`~cognito_guard.integrations.django.models.CognitoIdentity`, and through it to a user row.
The pool is its :func:`~cognito_guard.issuers.canonical_issuer`: both issuer forms of a pool are
one issuer, so a pool moving between the forms (or a token in the other form) keeps every link.

- first token of a user: a new row, named after the token's username (made unique with ``-2``,
  ``-3``... when taken), and never an existing local user of the same name or email;
- ID tokens update ``first_name`` and ``last_name``, and ``email`` when ``email_verified`` is true
  (an unverified address may be someone else's); access tokens carry none of them;
- with ``SYNC_GROUPS``, the user's groups named in ``cognito:groups`` are set to exactly those: the
  identity records which group names came from Cognito, and only those are ever taken away. With
  several pools each name is scoped by its pool (``POOL_ID/group``): a pool's administrators
  choose its group names, and must not be able to name a group of another pool or of the site;
- with ``STAFF_GROUPS`` (``SUPERUSER_GROUPS``), ``is_staff`` (``is_superuser``) is whether the
  user is in one of those groups, named as ``SYNC_GROUPS`` names them (``POOL_ID/group`` with
  several pools), whether or not ``SYNC_GROUPS`` is on;
- ``USER_MAPPER(claims, user, created)`` copies anything else; on creation it gets the unsaved row
  (it may fill required fields), otherwise the row after the built-in updates; changed fields are
  saved.

Every request of a user reads the user row, by primary key (one query), and judges
``is_active`` on it: a deactivation refuses the very next request, in every process, as Django's
own session authentication does. What a process caches is only the link ``(pool, sub) -> primary
key`` and what was last synced. The identity is looked up (and the sync runs) when this process has
no fresh link for ``(pool, sub)``: the first request, after :attr:`CognitoBackend.cache_seconds`,
when the token's groups (``SYNC_GROUPS``, ``STAFF_GROUPS``, ``SUPERUSER_GROUPS``) or its profile
(ID token) differ from what was last synced, or a new token (``jti``) with a mapper.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest

from ...claims import CognitoClaims
from ...errors import (
    CognitoGuardError,
    ConfigurationError,
    InactiveUserError,
    UnknownUserError,
    UserRefusedError,
)
from ...issuers import canonical_issuer, pool_of_issuer
from ._compat import has_user, set_user
from .identities import IdentityCache, _Entry, _forms, identity_cache, identity_key
from .principals import CognitoService
from .settings import APP_NAME, UserSettings, user_settings

__all__ = [
    "IdentityCache",
    "InactiveUserError",
    "UnknownUserError",
    "UserLinker",
    "UserRefusedError",
    "group_scope_problem",
    "identity_cache",
    "identity_key",
    "user_linker",
]

log = logging.getLogger("cognito_guard")
_ATTEMPTS = 3  # a lost race for a link or a username is retried; three losses in a row is a bug
_PROFILE = (("given_name", "first_name"), ("family_name", "last_name"))
_FLAGS = (("staff_groups", "is_staff"), ("superuser_groups", "is_superuser"))
Outcome = tuple[CognitoClaims | None, CognitoGuardError | None, Any]


# -- the request side -----------------------------------------------------------------------------


def _ensure_anonymous(request: HttpRequest) -> None:
    # An earlier AuthenticationMiddleware (sessions) keeps its user; otherwise views still find one.
    if not has_user(request):
        from django.contrib.auth.models import AnonymousUser

        set_user(request, AnonymousUser())


def _verified_email(claims: CognitoClaims) -> str | None:
    return claims.email if claims.email_verified else None


def _profile(claims: CognitoClaims) -> tuple[str | None, ...]:
    return (_verified_email(claims), *(claims.get(claim) for claim, _field in _PROFILE))


def group_scope_problem(issuers: Iterable[str]) -> str | None:
    """Why ``SYNC_GROUPS`` cannot scope group names by pool for ``issuers``, or None.

    With several pools each synced name is ``POOL_ID/group``; every pool must then have a pool
    id (a Cognito issuer has; another issuer must end with one) and no two pools the same.
    """
    pools = sorted({canonical_issuer(issuer) for issuer in issuers})
    if len(pools) < 2:
        return None
    seen: dict[str, str] = {}
    for issuer in pools:
        label = pool_of_issuer(issuer)
        if label is None:
            return (
                f"the issuer {issuer!r} names no user pool id, and with several pools "
                "SYNC_GROUPS, STAFF_GROUPS and SUPERUSER_GROUPS name each group after its pool "
                "(POOL_ID/group)"
            )
        if label in seen:
            return (
                f"the issuers {seen[label]!r} and {issuer!r} end with the same pool id "
                f"{label!r}, and with several pools SYNC_GROUPS, STAFF_GROUPS and "
                "SUPERUSER_GROUPS name each group after its pool (POOL_ID/group)"
            )
        seen[label] = issuer
    return None


class UserLinker:
    """Links verified claims to user rows for :class:`CognitoMiddleware` (one per middleware).

    ``issuers`` are the verifier's: with more than one pool among them, synced group names are
    scoped by pool (:func:`group_scope_problem` says when that cannot be done: a
    :class:`~cognito_guard.ConfigurationError` here, ``cognito_guard.E006`` in the checks).

    Example::

        linker = UserLinker(CognitoBackend(), UserSettings(sync_groups=True),
                            issuers=verifier.issuers)
        user = linker.user_of(claims)     # the row, created or updated; raises UserRefusedError
    """

    def __init__(
        self,
        backend: Any,
        config: UserSettings,
        cache: IdentityCache | None = None,
        *,
        issuers: Iterable[str],
    ) -> None:
        self.backend = backend
        self.config = config
        self.cache = identity_cache if cache is None else cache
        self.ttl = float(backend.cache_seconds)
        issuers = tuple(issuers)
        self.scoped_groups = len({canonical_issuer(issuer) for issuer in issuers}) > 1
        if config.reads_groups:
            problem = group_scope_problem(issuers)
            if problem is not None:
                raise ConfigurationError(problem)

    # The middleware's two entry points: (claims, error, user) after linking.

    def attach(
        self, request: HttpRequest, claims: CognitoClaims | None, error: CognitoGuardError | None
    ) -> Outcome:
        """Set ``request.user`` for ``claims`` (sync stacks); a refusal becomes the error."""
        if claims is None:
            _ensure_anonymous(request)
            return claims, error, None
        if claims.is_machine:
            return self._service(request, claims)
        try:
            user = self.resolve(claims)
        except UserRefusedError as exc:
            _ensure_anonymous(request)
            return None, exc, None
        set_user(request, user)
        return claims, None, user

    async def aattach(
        self, request: HttpRequest, claims: CognitoClaims | None, error: CognitoGuardError | None
    ) -> Outcome:
        """Like :meth:`attach` for async stacks: the database work runs in a thread."""
        if claims is None or claims.is_machine:
            return self.attach(request, claims, error)  # no database work
        return await sync_to_async(self.attach)(request, claims, error)

    def _service(self, request: HttpRequest, claims: CognitoClaims) -> Outcome:
        service = CognitoService(claims)
        set_user(request, service)
        return claims, None, service

    def _fresh(self, key: tuple[str, str], claims: CognitoClaims) -> _Entry | None:
        entry = self.cache.get(key)
        if entry is None:
            return None
        if self.config.reads_groups and entry.groups != claims.groups:
            return None
        if claims.token_use == "id" and entry.profile != _profile(claims):
            return None
        if self.config.user_mapper is not None and entry.token_id != claims.jti:
            return None
        return entry

    def load(self, user_id: Any) -> Any:
        """The user row ``user_id`` (one primary-key query), or None when it was deleted."""
        from django.contrib.auth import get_user_model

        model = get_user_model()
        try:
            return model._default_manager.get(pk=user_id)
        except model.DoesNotExist:
            self.cache.forget_user(user_id)
            return None

    def resolve(self, claims: CognitoClaims) -> Any:
        """The active row of a user's ``claims``: one primary-key query when the link is cached.

        The row is read on every call, never cached, and ``is_active`` judged on it: raises
        :class:`InactiveUserError` (or, on a first request, :class:`UnknownUserError`).
        """
        entry = self._fresh(identity_key(claims), claims)
        if entry is not None:
            user = self.load(entry.user_id)
            if user is not None:
                if not self.backend.user_can_authenticate(user):
                    raise InactiveUserError("the linked user is inactive")
                return user
        return self.user_of(claims)

    # The database side.

    def user_of(self, claims: CognitoClaims) -> Any:
        """The row linked to ``claims``: created, updated and synced as configured.

        Raises :class:`UnknownUserError` (``CREATE_USERS`` False) or :class:`InactiveUserError`.
        Two first requests of one user at once create one row: the loser of the race on the
        ``(issuer, sub)`` constraint rolls back and finds the winner's row. A link is found in
        either issuer form of the pool (one written by hand in the other form, too; the oldest
        wins); new links are written in the canonical form.
        """
        from .models import CognitoIdentity

        key = identity_key(claims)
        for attempt in range(_ATTEMPTS):
            identity = (
                CognitoIdentity.objects.select_related("user")
                .filter(issuer__in=_forms(claims.issuer), sub=claims.sub)
                .order_by("created_at", "pk")
                .first()
            )
            try:
                if identity is None:
                    if not self.config.create_users:
                        raise UnknownUserError(
                            "no user is linked to this token and CREATE_USERS is off"
                        )
                    user, identity = self._create(claims, key[0])
                else:
                    user = identity.user
                    if self.backend.user_can_authenticate(user):
                        self._update(claims, user)
                if self.backend.user_can_authenticate(user) and self.config.sync_groups:
                    self._sync_groups(claims, user, identity)
            except IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise
                log.info("lost a race linking a new user, retrying")
                continue
            active = bool(self.backend.user_can_authenticate(user))
            self.cache.put(
                key,
                _Entry(
                    user.pk,
                    claims.groups if self.config.reads_groups else None,
                    _profile(claims) if claims.token_use == "id" else None,
                    claims.jti,
                    self.cache.expiry(self.ttl),
                ),
            )
            if not active:
                raise InactiveUserError("the linked user is inactive")
            return user
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(self, claims: CognitoClaims, issuer: str) -> tuple[Any, Any]:
        from django.contrib.auth import get_user_model

        from .models import CognitoIdentity

        model: Any = get_user_model()
        user = model(**{model.USERNAME_FIELD: self._free_username(model, claims)})
        if hasattr(user, "set_unusable_password"):
            user.set_unusable_password()  # signs in by Cognito only
        self._apply_profile(claims, user)
        self._apply_flags(claims, user)
        if self.config.user_mapper is not None:
            self.config.user_mapper(claims, user, True)
        with transaction.atomic(using=router.db_for_write(CognitoIdentity)):
            user.save()
            identity = CognitoIdentity.objects.create(user=user, issuer=issuer, sub=claims.sub)
        log.info("created user %r for Cognito sub %s", user.get_username(), claims.sub)
        return user, identity

    def _free_username(self, model: Any, claims: CognitoClaims) -> str:
        name = model.USERNAME_FIELD
        limit = model._meta.get_field(name).max_length or 150
        base: str = model.normalize_username(claims.username or claims.sub)
        candidates = [base[:limit]]
        candidates += [f"{base[: limit - len(s)]}{s}" for s in (f"-{n}" for n in range(2, 12))]
        taken = set(
            model._default_manager.filter(**{f"{name}__in": candidates}).values_list(
                name, flat=True
            )
        )
        for candidate in candidates:
            if candidate not in taken:
                return candidate
        return f"{base[: limit - 9]}-{secrets.token_hex(4)}"

    def _apply_profile(self, claims: CognitoClaims, user: Any) -> None:
        if claims.token_use != "id":
            return  # access tokens carry no profile
        fields = {f.name: f for f in user._meta.concrete_fields}
        values = [(user.get_email_field_name(), _verified_email(claims))]
        values += [(field, claims.get(claim)) for claim, field in _PROFILE]
        for field_name, value in values:
            field = fields.get(field_name)
            if field is None or not isinstance(value, str):
                continue
            setattr(user, field_name, value[: field.max_length] if field.max_length else value)

    def _apply_flags(self, claims: CognitoClaims, user: Any) -> None:
        wanted = [(getattr(self.config, key), field) for key, field in _FLAGS]
        wanted = [(groups, field) for groups, field in wanted if groups is not None]
        if not wanted:
            return
        names = set(self._group_names(claims))
        fields = {f.name for f in user._meta.concrete_fields}
        for groups, field in wanted:
            if field in fields:  # else the user model has no such flag (check E007)
                setattr(user, field, not names.isdisjoint(groups))

    def _update(self, claims: CognitoClaims, user: Any) -> None:
        fields = user._meta.concrete_fields
        before = [getattr(user, f.attname) for f in fields]
        self._apply_profile(claims, user)
        self._apply_flags(claims, user)
        if self.config.user_mapper is not None:
            self.config.user_mapper(claims, user, False)
        changed = [
            f.name for f, old in zip(fields, before, strict=True) if getattr(user, f.attname) != old
        ]
        if changed:
            user.save(update_fields=changed)

    def _sync_groups(self, claims: CognitoClaims, user: Any, identity: Any) -> None:
        from django.contrib.auth.models import Group

        name_field: Any = Group._meta.get_field("name")
        limit = name_field.max_length or 150
        wanted = {name for name in self._group_names(claims) if len(name) <= limit}
        previous = set(identity.synced_groups or ())
        current = set(user.groups.filter(name__in=wanted | previous).values_list("name", flat=True))
        missing = sorted(wanted - current)
        if missing:
            user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in missing))
        stale = (previous - wanted) & current
        if stale:
            user.groups.remove(*Group.objects.filter(name__in=stale))
        if previous != wanted:
            identity.synced_groups = sorted(wanted)
            identity.save(update_fields=["synced_groups", "updated_at"])

    def _group_names(self, claims: CognitoClaims) -> Iterable[str]:
        if not self.scoped_groups:
            return claims.groups
        # A pool id has no "/", so "POOL/group" names of two pools never meet, whatever the groups.
        pool = pool_of_issuer(claims.issuer)
        if pool is None:  # not a configured issuer (checked at construction): no groups at all
            return ()
        return [f"{pool}/{name}" for name in claims.groups]


def user_linker(backend: Any, issuers: Iterable[str]) -> UserLinker:
    """The middleware's :class:`UserLinker` for ``backend`` (a ``CognitoBackend``) and the
    verifier's ``issuers``.

    Raises :class:`~cognito_guard.ConfigurationError` (at start-up) when the app that holds
    ``CognitoIdentity`` is not installed, or ``SYNC_GROUPS`` cannot scope the group names of
    several pools.

    Example: ``linker = user_linker(CognitoBackend(), verifier.issuers)``
    """
    if not apps.is_installed(APP_NAME):
        raise ConfigurationError(
            f"CognitoBackend is in settings.AUTHENTICATION_BACKENDS but {APP_NAME!r} is not in "
            "settings.INSTALLED_APPS (it holds the CognitoIdentity model)"
        )
    return UserLinker(backend, user_settings(), issuers=issuers)
