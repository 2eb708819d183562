"""The in-process link ``(pool, sub) -> user id``: :class:`IdentityCache`, the process's
:data:`identity_cache`, and the signals that clear its entries when a row changes.

:mod:`cognito_guard.integrations.django.users` reads and fills it (and re-exports these names);
the app config connects the signals at start-up.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ...claims import CognitoClaims
from ...issuers import canonical_issuer, issuer_forms

__all__ = ["IdentityCache", "connect_signals", "identity_cache", "identity_key"]


# Verified tokens carry only the configured issuers: a few strings, each worked out once.
_forms = functools.lru_cache(maxsize=64)(issuer_forms)


def identity_key(claims: CognitoClaims) -> tuple[str, str]:
    """``(canonical issuer, sub)``: one key for a user whichever issuer form the token carries."""
    return _forms(claims.issuer)[0], claims.sub


@dataclass(frozen=True)
class _Entry:
    # The link and the sync markers only: never the user row, nor is_active (read per request).
    user_id: Any
    groups: frozenset[str] | None  # the groups last applied; None when no setting reads them
    profile: tuple[str | None, ...] | None  # the ID-token profile last applied
    token_id: str | None  # the jti a USER_MAPPER last saw
    expires: float


class IdentityCache:
    """``(pool, sub) -> (user id, what was synced)`` for a short time, per process.

    A deliberate global (:data:`identity_cache`): the signals of the user model and of
    ``CognitoIdentity`` clear the entries of a row saved or deleted in this process. Other
    processes see a changed link when their entry expires (``CognitoBackend.cache_seconds``); the
    user row itself, with ``is_active``, is read on every request and never cached.

    Example: ``identity_cache.clear()``  (tests, or after identities are relinked in bulk)
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
    identity_cache.forget((canonical_issuer(instance.issuer), instance.sub))
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
