"""Kept as an alias of :mod:`cognito_guard.m2m_cache`, where the fleet M2M token cache lives.

"Token cache" also names the verifier's cache of verified tokens (``token_cache_size``); the
client-credentials token shared by a fleet is the M2M cache. Every name importable here stays
importable; new code imports from :mod:`cognito_guard.m2m_cache` (or
:mod:`cognito_guard.client`).
"""

from __future__ import annotations

from .m2m_cache import (
    CacheRequest,
    MemoryTokenCache,
    RedisTokenCache,
    TokenCache,
    cache_key,
    effective_skew,
)

__all__ = [
    "CacheRequest",
    "MemoryTokenCache",
    "RedisTokenCache",
    "TokenCache",
    "cache_key",
    "effective_skew",
]
