"""Revocation and sign-out that every process honours: an in-memory list, shared through Redis.

Cognito's access and ID tokens stay valid for any JWT library until their ``exp``, even after
``/oauth2/revoke`` or ``GlobalSignOut``. A verifier given ``revocations=`` also refuses:

- one token, by its ``jti`` (:meth:`revoke_token`);
- one sign-in session, by the ``origin_jti`` its access and ID tokens share
  (:meth:`revoke_session`);
- every token of a user issued at or before a time, by ``sub`` and ``iat``
  (:meth:`sign_out_user`).

The check is a few dictionary lookups in memory, on every verification and every cache hit; no
network call per request. :class:`MemoryRevocations` keeps the list in one process (and for
tests); :class:`RedisRevocations` shares it between every process of a deployment::

    process A                       Redis                           process B
    revoke_session(o) --MULTI--> ZADD {prefix}revocations --PUBLISH--> local copy += o
       local copy += o           (score = expiry, pruned)    re-sync every few seconds
                                                                (catches a lost message)

Entries are only ever added, and each lives ``max_token_lifetime`` (a day by default, the longest
life of a Cognito access or ID token): after that every token it covers has expired anyway. A
local copy keeps each entry until its own expiry, even if Redis loses it.

Example::

    from cognito_guard.revocation import RedisRevocations

    revocations = RedisRevocations("rediss://app:secret@cache.example.com:6380/0")
    verifier = CognitoVerifier(user_pool_id=..., client_id=..., revocations=revocations)
    revocations.revoke_session(claims["origin_jti"])    # every process refuses it within ~1 s
"""

from __future__ import annotations

from .._redis import unavailable_errors
from ._store import read_entries as read_entries
from ._store import write_entry as write_entry
from ._wire import MAX_ID_LENGTH as MAX_ID_LENGTH
from ._wire import parse_member as parse_member
from ._wire import parse_message as parse_message
from .memory import AT_SKEW as AT_SKEW
from .memory import MemoryRevocations
from .protocols import KINDS, Revocation, Revocations, RevocationWrites
from .protocols import Kind as Kind
from .redis import OnUnavailable as OnUnavailable
from .redis import RedisRevocations

__all__ = [
    "KINDS",
    "MemoryRevocations",
    "RedisRevocations",
    "Revocation",
    "RevocationWrites",
    "Revocations",
]

redis_failures = unavailable_errors
"""The exceptions meaning "Redis did not do it" (:func:`cognito_guard._redis.unavailable_errors`,
under the name the CLI imports)."""
