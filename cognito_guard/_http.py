"""Small HTTP helpers shared by the key store and the token client (no policy here)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from .errors import BodyTooLarge

__all__ = ["BodyTooLarge", "aread_capped", "read_capped"]


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
