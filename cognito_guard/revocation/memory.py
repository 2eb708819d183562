"""The in-memory list every implementation checks, and :class:`MemoryRevocations`."""

from __future__ import annotations

import heapq
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .._values import seconds
from ..claims import CognitoClaims
from ..errors import ConfigurationError, RevokedTokenError, shorten
from ._wire import check_id, number
from .protocols import Kind, Revocation

__all__ = ["MemoryRevocations"]

log = logging.getLogger("cognito_guard")

# sign_out_user(at=...) may be this far ahead of our clock (another host's clock); further ahead
# it would lock the user out of signing in again until then.
AT_SKEW = 5.0
_BAD_LOG_LIMIT = 100  # distinct malformed values logged; beyond that they are ignored quietly


_List = TypeVar("_List", bound="_LocalList")


class _LocalList:
    """The in-memory list, its check and its writes, shared by both implementations.

    Readers (every verification) take no lock: a dict lookup is atomic, and writers replace
    values, never mutate them. Writers hold ``_write_lock``.
    """

    def __init__(self, max_token_lifetime: float, clock: Callable[[], float]) -> None:
        self.max_token_lifetime = seconds(max_token_lifetime, "max_token_lifetime")
        if not callable(clock):
            raise ConfigurationError("clock must be callable")
        self._clock = clock
        self._write_lock = threading.Lock()
        self._jti: dict[str, float] = {}  # id -> expiry
        self._origin: dict[str, float] = {}  # origin_jti -> expiry
        self._sub: dict[str, float] = {}  # sub -> the latest sign-out time
        self._sub_expiry: dict[str, float] = {}  # sub -> when that sign-out stops mattering
        # (expiry, kind, id) of every entry added or extended: pruning pops what is due, so it
        # costs the expired entries, not the whole list. Stale heap items are skipped.
        self._expiries: list[tuple[float, str, str]] = []
        self._bad_logged: set[str] = set()

    # -- the check ------------------------------------------------------------------------------

    def is_revoked(self, claims: Mapping[str, Any]) -> bool:
        """True when the token with these (verified) claims is revoked.

        Example: ``revocations.is_revoked(verifier.verify(token))``
        """
        # The verifier's claims: read the dict underneath (Mapping.get costs a frame per call).
        payload = claims._claims if type(claims) is CognitoClaims else claims
        jti = payload.get("jti")
        if type(jti) is str and jti in self._jti:
            return True
        origin = payload.get("origin_jti")
        if type(origin) is str and origin in self._origin:
            return True
        sub = payload.get("sub")
        if type(sub) is str:
            cutoff = self._sub.get(sub)
            if cutoff is not None:
                iat = number(payload.get("iat"))
                # No iat: nothing shows the token came after the sign-out, so it is covered.
                return iat is None or iat <= cutoff
        return False

    def _revoked_error(self, claims: Mapping[str, Any]) -> RevokedTokenError:
        payload = claims._claims if type(claims) is CognitoClaims else claims
        jti, origin = payload.get("jti"), payload.get("origin_jti")
        if type(jti) is str and jti in self._jti:
            why = f"its jti {shorten(jti)} was revoked"
        elif type(origin) is str and origin in self._origin:
            why = f"its session (origin_jti {shorten(origin)}) was revoked"
        else:
            why = f"its user {shorten(payload.get('sub'))} was signed out after it was issued"
        return RevokedTokenError(f"the token was revoked: {why}")

    # -- the entries ----------------------------------------------------------------------------

    def _apply(self, entry: Revocation) -> bool:
        """Add ``entry`` to the local copy; False when it adds nothing (known or expired)."""
        if entry.expires <= self._clock():
            return False
        with self._write_lock:
            if entry.kind == "sub":
                assert entry.at is not None  # noqa: S101 - _parse and the writers ensure it
                if entry.at <= self._sub.get(entry.id, -math.inf):
                    return False
                # Expiry first: a reader seeing the new cutoff must not see the old expiry pruned.
                expires = max(entry.expires, self._sub_expiry.get(entry.id, -math.inf))
                self._sub_expiry[entry.id] = expires
                self._sub[entry.id] = entry.at
                heapq.heappush(self._expiries, (expires, "sub", entry.id))
                return True
            table = self._jti if entry.kind == "jti" else self._origin
            if entry.expires <= table.get(entry.id, -math.inf):
                return False
            known = entry.id in table
            table[entry.id] = entry.expires
            heapq.heappush(self._expiries, (entry.expires, entry.kind, entry.id))
            return not known

    def _prune(self, now: float) -> int:
        """Drop the local entries that have expired; returns how many."""
        removed = 0
        with self._write_lock:
            heap = self._expiries
            while heap and heap[0][0] <= now:
                expires, kind, ident = heapq.heappop(heap)
                table = {"jti": self._jti, "origin_jti": self._origin}.get(kind, self._sub_expiry)
                if table.get(ident) != expires:
                    continue  # extended (or already gone) since this item was pushed
                del table[ident]
                if table is self._sub_expiry:
                    del self._sub[ident]
                removed += 1
        return removed

    def entries(self) -> list[Revocation]:
        """The live entries of the local copy, soonest to expire first.

        Example: ``[(e.kind, e.id) for e in revocations.entries()]``
        """
        now = self._clock()
        with self._write_lock:
            found = [Revocation("jti", i, e) for i, e in self._jti.items()]
            found += [Revocation("origin_jti", i, e) for i, e in self._origin.items()]
            found += [Revocation("sub", i, self._sub_expiry[i], at) for i, at in self._sub.items()]
        return sorted((e for e in found if e.expires > now), key=lambda e: (e.expires, e.id))

    def __len__(self) -> int:
        return len(self._jti) + len(self._origin) + len(self._sub)

    def _log_bad(self, value: bytes | str, where: str) -> None:
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        key = text[:200]
        if key in self._bad_logged or len(self._bad_logged) >= _BAD_LOG_LIMIT:
            return
        self._bad_logged.add(key)
        log.warning("ignored a malformed revocation %s: %s", where, shorten(key))

    # -- building entries from the public arguments --------------------------------------------

    def _entry(self, kind: Kind, ident: object, at: float | None = None) -> Revocation:
        now = self._clock()
        if kind != "sub":
            return Revocation(kind, check_id(ident, kind), now + self.max_token_lifetime)
        sub = check_id(ident, "sub")
        when = now if at is None else number(at)
        if when is None:
            raise ConfigurationError(f"at must be epoch seconds (a number), not {shorten(at)}")
        if when > now + AT_SKEW:
            raise ConfigurationError(
                f"at lies {when - now:.0f}s in the future: a sign-out covers tokens already "
                f"issued (at most {AT_SKEW:g}s ahead of this clock is accepted)"
            )
        return Revocation("sub", sub, when + self.max_token_lifetime, when)

    # -- the writes: each implementation records an entry its own way -------------------------

    def revoke_token(self, jti: str) -> None:
        """Refuse exactly one token, by its ``jti``."""
        self._record(self._entry("jti", jti))

    def revoke_session(self, origin_jti: str) -> None:
        """Refuse every token of one sign-in session, by the ``origin_jti`` they share."""
        self._record(self._entry("origin_jti", origin_jti))

    def sign_out_user(self, sub: str, at: float | None = None) -> None:
        """Refuse every token of user ``sub`` with ``iat`` at or before ``at`` (default: now)."""
        self._record(self._entry("sub", sub, at))

    async def arevoke_token(self, jti: str) -> None:
        """Async :meth:`revoke_token` (does not block the event loop)."""
        await self._arecord(self._entry("jti", jti))

    async def arevoke_session(self, origin_jti: str) -> None:
        """Async :meth:`revoke_session`."""
        await self._arecord(self._entry("origin_jti", origin_jti))

    async def asign_out_user(self, sub: str, at: float | None = None) -> None:
        """Async :meth:`sign_out_user`."""
        await self._arecord(self._entry("sub", sub, at))

    def _record(self, entry: Revocation) -> None:
        raise NotImplementedError

    async def _arecord(self, entry: Revocation) -> None:
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop what the list runs (a list in memory runs nothing)."""

    def __enter__(self: _List) -> _List:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MemoryRevocations(_LocalList):
    """A revocation list in this process's memory: for one process, and for tests.

    Example::

        revocations = MemoryRevocations()
        verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
        revocations.sign_out_user(claims.sub)          # the user's tokens issued so far fail

    Args:
        max_token_lifetime: seconds an entry is kept (the longest access/ID token lifetime).
        clock: returns epoch seconds (injectable for tests).
    """

    def __init__(
        self, *, max_token_lifetime: float = 86400, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(max_token_lifetime, clock)

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`~cognito_guard.RevokedTokenError` when the token is revoked."""
        if self.is_revoked(claims):
            raise self._revoked_error(claims)

    def _record(self, entry: Revocation) -> None:
        self._prune(self._clock())
        self._apply(entry)

    async def _arecord(self, entry: Revocation) -> None:
        self._record(entry)

    def __repr__(self) -> str:
        return f"MemoryRevocations(entries={len(self)})"
