"""Small HTTP helpers shared by the key store and the token client (no policy here)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from .errors import BodyTooLarge

__all__ = ["BodyTooLarge", "aread_capped", "client_options", "read_capped", "ssl_context"]

_ssl_lock = threading.Lock()
_ssl: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """The TLS context of this process's outbound requests, built on first use and then reused.

    httpx's own default (its CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``): loading the CA
    bundle costs tens of milliseconds, which an httpx client given no context pays each time it
    is made. A context may be shared by threads and event loops alike. A deliberate cache: the
    certificate settings are read once per process.
    """
    global _ssl
    context = _ssl
    if context is None:
        with _ssl_lock:  # two key stores hydrating at once build it once
            if _ssl is None:
                _ssl = httpx.create_ssl_context()
            context = _ssl
    return context


def client_options(timeout: httpx.Timeout, transport: object) -> dict[str, Any]:
    """The options of an httpx client that talks to Cognito: no redirect followed (an answer is
    judged where it was asked for), and the process's TLS context (:func:`ssl_context`) unless
    ``transport``, the caller's own, brings its TLS settings."""
    options: dict[str, Any] = {"timeout": timeout, "follow_redirects": False}
    if transport is None:
        options["verify"] = ssl_context()
    return options


def read_capped(chunks: Iterator[bytes], limit: int) -> bytes:
    """Join a streamed body, raising :class:`BodyTooLarge` as soon as it passes ``limit``."""
    collected: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        collected.append(chunk)
    return b"".join(collected)


async def aread_capped(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Like :func:`read_capped`, for an async stream."""
    collected: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        collected.append(chunk)
    return b"".join(collected)
