"""Driving a sans-IO protocol: a generator that yields what it needs done and is sent the answer.

Sync and async twins in this package follow one rule:

- **Protocol logic** (which request to send, how to read the answer, what to do next) is written
  once, as a generator that does no I/O, and driven by a thin sync and a thin async driver, in
  the manner of ``httpx.Auth.auth_flow``. The flows of :mod:`cognito_guard._oauth` and
  :class:`~cognito_guard.client.CognitoTokenClient`'s ``_run``/``_arun``; the key store's
  ``_fetch_flow`` and its two fetch drivers; the auth classes' ``_protocol`` and their
  ``sync_auth_flow``/``async_auth_flow``; the M2M token caches' ``_flow`` under
  ``TokenCache.get``/``aget``. A driver only performs the steps: an HTTP request with
  ``httpx.Client`` or ``httpx.AsyncClient``, or a call of a component that has a sync and an async
  form (a verifier, a revocation list).
- A **sync-only component** used from async code is handed to a thread (``asyncio.to_thread``),
  never called on the event loop.
- Where **no async caller** exists there is a sync method only.

No async method copies a sync one with ``await`` added.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Failed", "Finished", "resume"]

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True)
class Finished(Generic[T]):
    """A flow that needs nothing more, and what it returned."""

    value: T


@dataclass(frozen=True)
class Failed:
    """An answer that is a failure: raised in the flow where it yielded the step."""

    error: BaseException


def resume(flow: Generator[S, Any, T], answer: object) -> S | Finished[T]:
    """Give ``flow`` the answer to its last step (``None`` to start it): its next step, or
    :class:`Finished` with its result. An exception the flow raises propagates.
    """
    try:
        if isinstance(answer, Failed):
            return flow.throw(answer.error)
        return flow.send(answer)
    except StopIteration as stop:
        return Finished(stop.value)
