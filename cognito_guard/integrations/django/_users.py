"""Cognito users as ``AUTH_USER_MODEL`` rows: the link, the sync, the in-process cache.

A request with a valid user token is linked by its ``(iss, sub)`` to a
:class:`~cognito_guard.integrations.django.models.CognitoIdentity`, and through it to a user row:

- first token of a user: a new row, named after the token's username (made unique with ``-2``,
  ``-3``... when taken), and never an existing local user of the same name or email;
- ID tokens update ``email``, ``first_name`` and ``last_name`` (access tokens carry neither);
- with ``SYNC_GROUPS``, the user's groups named in ``cognito:groups`` are set to exactly those: the
  identity records which group names came from Cognito, and only those are ever taken away;
- ``USER_MAPPER(claims, user, created)`` copies anything else; on creation it gets the unsaved row
  (it may fill required fields), otherwise the row after the built-in updates; changed fields are
  saved.

The database is read when this process has no fresh cache entry for ``(iss, sub)``: the first
request, after :attr:`CognitoBackend.cache_seconds`, when the token's groups (``SYNC_GROUPS``) or
its profile (ID token) differ from what was last synced, or a new token (``jti``) with a mapper.
Otherwise ``request.user`` is a lazy object loaded by primary key on first use (no query for a
view that never touches it) and ``await request.auser()`` its async twin.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from ...claims import CognitoClaims
from ...errors import CognitoGuardError, ConfigurationError, TokenError
from . import CognitoService
from ._settings import UserSettings, user_settings

__all__ = [
    "IdentityCache",
    "InactiveUserError",
    "UnknownUserError",
    "UserLinker",
    "UserRefusedError",
    "identity_cache",
    "user_linker",
]

log = logging.getLogger("cognito_guard")
APP_NAME = "cognito_guard.integrations.django"
_ATTEMPTS = 3  # a lost race for (iss, sub) or a username is retried; three losses in a row is a bug
_PROFILE = (("given_name", "first_name"), ("family_name", "last_name"))
Outcome = tuple[CognitoClaims | None, CognitoGuardError | None, Any]


class UserRefusedError(TokenError):
    """The token is valid but its user may not use this site (HTTP 403)."""

    status_code = 403
    error_code = "access_denied"
    description = "The user may not use this service"


class UnknownUserError(UserRefusedError):
    """``CREATE_USERS`` is False and the token's user has no row here."""

    error_code = "unknown_user"
    description = "The user has no account on this service"


class InactiveUserError(UserRefusedError):
    """The linked user is deactivated (``is_active`` False)."""

    error_code = "inactive_user"
    description = "The user account is disabled"


# -- the in-process cache -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    user_id: Any
    is_active: bool
    groups: frozenset[str] | None  # what SYNC_GROUPS last applied; None when not syncing
    profile: tuple[str | None, ...] | None  # the ID-token profile last applied
    token_id: str | None  # the jti a USER_MAPPER last saw
    expires: float


class IdentityCache:
    """``(iss, sub) -> (user id, is_active, what was synced)`` for a short time, per process.

    A deliberate global (:data:`identity_cache`): the signals of the user model and of
    ``CognitoIdentity`` clear the entries of a row saved or deleted in this process. Other
    processes see a change when their entry expires (``CognitoBackend.cache_seconds``).

    Example: ``identity_cache.clear()``  (tests, or after a bulk ``QuerySet.update``)
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000
    ) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> _Entry | None:
        """The fresh entry of ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.expires <= self._clock():
            return None
        return entry

    def put(self, key: tuple[str, str], entry: _Entry) -> None:
        """Store ``entry``; the oldest entries go first when the cache is full."""
        with self._lock:
            self._entries.pop(key, None)
            while len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = entry

    def expiry(self, seconds: float) -> float:
        """The ``expires`` of an entry made now that lives ``seconds``."""
        return self._clock() + seconds

    def forget(self, key: tuple[str, str]) -> None:
        """Drop the entry of one identity."""
        with self._lock:
            self._entries.pop(key, None)

    def forget_user(self, user_id: Hashable) -> None:
        """Drop every entry that points at ``user_id``."""
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.user_id == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


identity_cache = IdentityCache()


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    identity_cache.forget_user(instance.pk)


def _identity_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    identity_cache.forget((instance.issuer, instance.sub))
    identity_cache.forget_user(instance.user_id)


def connect_signals() -> None:
    """Invalidate :data:`identity_cache` when a user or an identity is saved or deleted."""
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_delete, post_save

    from .models import CognitoIdentity

    user_model = get_user_model()
    for signal in (post_save, post_delete):
        name = "saved" if signal is post_save else "deleted"
        signal.connect(_user_changed, sender=user_model, dispatch_uid=f"cognito_guard.user_{name}")
        signal.connect(
            _identity_changed, sender=CognitoIdentity, dispatch_uid=f"cognito_guard.id_{name}"
        )


# -- the request side -----------------------------------------------------------------------------


class _LazyUser:
    """Loads a user row by primary key once, from sync (``get``) or async (``aget``) code."""

    def __init__(self, linker: UserLinker, user_id: Any) -> None:
        self._linker, self._user_id, self._user = linker, user_id, None

    def get(self) -> Any:
        if self._user is None:
            self._user = self._linker.load(self._user_id)
        return self._user

    async def aget(self) -> Any:
        if self._user is None:
            self._user = await sync_to_async(self._linker.load)(self._user_id)
        return self._user


def _set_user(request: HttpRequest, user: Any) -> None:
    async def auser() -> Any:
        return user

    target = cast(Any, request)
    target.user, target.auser = user, auser


def _set_lazy_user(request: HttpRequest, lazy: _LazyUser) -> Any:
    user = SimpleLazyObject(lazy.get)
    target = cast(Any, request)
    target.user, target.auser = user, lazy.aget
    return user


def _ensure_anonymous(request: HttpRequest) -> None:
    # An earlier AuthenticationMiddleware (sessions) keeps its user; otherwise views still find one.
    if "user" not in request.__dict__:
        from django.contrib.auth.models import AnonymousUser

        _set_user(request, AnonymousUser())


def _profile(claims: CognitoClaims) -> tuple[str | None, ...]:
    return (claims.email, *(claims.get(claim) for claim, _field in _PROFILE))


class UserLinker:
    """Links verified claims to user rows for :class:`CognitoMiddleware` (one per middleware).

    Example::

        linker = UserLinker(CognitoBackend(), UserSettings(sync_groups=True))
        user = linker.user_of(claims)     # the row, created or updated; raises UserRefusedError
    """

    def __init__(
        self, backend: Any, config: UserSettings, cache: IdentityCache | None = None
    ) -> None:
        self.backend = backend
        self.config = config
        self.cache = identity_cache if cache is None else cache
        self.ttl = float(backend.cache_seconds)

    # The middleware's two entry points: (claims, error, user) after linking.

    def attach(
        self, request: HttpRequest, claims: CognitoClaims | None, error: CognitoGuardError | None
    ) -> Outcome:
        """Set ``request.user`` for ``claims`` (sync stacks); a refusal becomes the error."""
        if claims is None:
            _ensure_anonymous(request)
            return claims, error, None
        outcome = self._without_database(request, claims)
        if outcome is not None:
            return outcome
        try:
            user = self.user_of(claims)
        except UserRefusedError as exc:
            return self._refused(request, exc)
        _set_user(request, user)
        return claims, None, user

    async def aattach(
        self, request: HttpRequest, claims: CognitoClaims | None, error: CognitoGuardError | None
    ) -> Outcome:
        """Like :meth:`attach` for async stacks: the database work runs in a thread."""
        if claims is None:
            _ensure_anonymous(request)
            return claims, error, None
        outcome = self._without_database(request, claims)
        if outcome is not None:
            return outcome
        try:
            user = await sync_to_async(self.user_of)(claims)
        except UserRefusedError as exc:
            return self._refused(request, exc)
        _set_user(request, user)
        return claims, None, user

    def _refused(self, request: HttpRequest, exc: UserRefusedError) -> Outcome:
        _ensure_anonymous(request)
        return None, exc, None

    def _without_database(self, request: HttpRequest, claims: CognitoClaims) -> Outcome | None:
        """The answer when no query is needed (service tokens, a fresh cache entry), else None."""
        if claims.is_machine:
            service = CognitoService(claims)
            _set_user(request, service)
            return claims, None, service
        entry = self._fresh(claims)
        if entry is None:
            return None
        if not entry.is_active:
            return self._refused(request, InactiveUserError("the linked user is inactive"))
        return claims, None, _set_lazy_user(request, _LazyUser(self, entry.user_id))

    def _fresh(self, claims: CognitoClaims) -> _Entry | None:
        entry = self.cache.get((claims.issuer, claims.sub))
        if entry is None:
            return None
        if self.config.sync_groups and entry.groups != claims.groups:
            return None
        if claims.token_use == "id" and entry.profile != _profile(claims):
            return None
        if self.config.user_mapper is not None and entry.token_id != claims.jti:
            return None
        return entry

    def load(self, user_id: Any) -> Any:
        """The user row ``user_id``; AnonymousUser when it was deleted meanwhile."""
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AnonymousUser

        model = get_user_model()
        try:
            return model._default_manager.get(pk=user_id)
        except model.DoesNotExist:
            self.cache.forget_user(user_id)
            return AnonymousUser()

    # The database side.

    def user_of(self, claims: CognitoClaims) -> Any:
        """The row linked to ``claims``: created, updated and synced as configured.

        Raises :class:`UnknownUserError` (``CREATE_USERS`` False) or :class:`InactiveUserError`.
        Two first requests of one user at once create one row: the loser of the race on the
        ``(iss, sub)`` constraint rolls back and finds the winner's row.
        """
        from .models import CognitoIdentity

        for attempt in range(_ATTEMPTS):
            try:
                identity = CognitoIdentity.objects.select_related("user").get(
                    issuer=claims.issuer, sub=claims.sub
                )
            except CognitoIdentity.DoesNotExist:
                identity = None
            try:
                if identity is None:
                    if not self.config.create_users:
                        raise UnknownUserError(
                            "no user is linked to this token and CREATE_USERS is off"
                        )
                    user, identity = self._create(claims)
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
                (claims.issuer, claims.sub),
                _Entry(
                    user.pk,
                    active,
                    claims.groups if self.config.sync_groups else None,
                    _profile(claims) if claims.token_use == "id" else None,
                    claims.jti,
                    self.cache.expiry(self.ttl),
                ),
            )
            if not active:
                raise InactiveUserError("the linked user is inactive")
            return user
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(self, claims: CognitoClaims) -> tuple[Any, Any]:
        from django.contrib.auth import get_user_model

        from .models import CognitoIdentity

        model: Any = get_user_model()
        user = model(**{model.USERNAME_FIELD: self._free_username(model, claims)})
        if hasattr(user, "set_unusable_password"):
            user.set_unusable_password()  # signs in by Cognito only
        self._apply_profile(claims, user)
        if self.config.user_mapper is not None:
            self.config.user_mapper(claims, user, True)
        with transaction.atomic(using=router.db_for_write(CognitoIdentity)):
            user.save()
            identity = CognitoIdentity.objects.create(
                user=user, issuer=claims.issuer, sub=claims.sub
            )
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
        values = [(user.get_email_field_name(), claims.email)]
        values += [(field, claims.get(claim)) for claim, field in _PROFILE]
        for field_name, value in values:
            field = fields.get(field_name)
            if field is None or not isinstance(value, str):
                continue
            setattr(user, field_name, value[: field.max_length] if field.max_length else value)

    def _update(self, claims: CognitoClaims, user: Any) -> None:
        fields = user._meta.concrete_fields
        before = [getattr(user, f.attname) for f in fields]
        self._apply_profile(claims, user)
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
        wanted = {name for name in claims.groups if len(name) <= limit}
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


def cognito_backend() -> Any:
    """An instance of the first :class:`CognitoBackend` of ``AUTHENTICATION_BACKENDS``, or None."""
    if not apps.is_installed("django.contrib.auth"):
        return None  # no user model to map to: the mapping cannot be on
    from .backends import CognitoBackend

    for path in getattr(settings, "AUTHENTICATION_BACKENDS", ()):
        try:
            backend = import_string(path)
        except Exception:  # noqa: S112 - Django reports a bad backend path itself, on first use
            continue
        if isinstance(backend, type) and issubclass(backend, CognitoBackend):
            return backend()
    return None


def user_linker() -> UserLinker | None:
    """The middleware's :class:`UserLinker`, or None without :class:`CognitoBackend`.

    Raises :class:`~cognito_guard.ConfigurationError` (at start-up) when the backend is on but
    the app that holds ``CognitoIdentity`` is not installed.
    """
    backend = cognito_backend()
    if backend is None:
        return None
    if not apps.is_installed(APP_NAME):
        raise ConfigurationError(
            f"CognitoBackend is in settings.AUTHENTICATION_BACKENDS but {APP_NAME!r} is not in "
            "settings.INSTALLED_APPS (it holds the CognitoIdentity model)"
        )
    return UserLinker(backend, user_settings())
