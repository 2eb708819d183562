"""Can this process serve? One call for a readiness probe: signing keys, revocation list, sessions.

A process can verify a token when it has (or can fetch now) the signing keys of its issuers,
when its revocation list has been synchronised within ``max_staleness`` (a list that fails open
counts as serving), and, with web sign-in, when its session store answers. :func:`check` (and
:func:`acheck`, which never blocks the event loop) asks each and says why not, in words safe to
show on a probe endpoint: no Redis URL, no credential, no token.

It is bounded: cached state is read without I/O; a key store without usable keys fetches them
(waiting at most ``KeyPolicy.max_wait``; during its back-off after a failure it answers at
once); a Redis session store is sent one ``PING`` that is waited for at most ``timeout``
seconds.

Example (Flask; FastAPI: ``await readiness.acheck(...)``)::

    from cognito_guard import readiness

    @app.get("/ready")
    def ready():
        state = readiness.check(CognitoGuard.verifier(app), sign_in)
        return state.as_dict(), state.status_code     # 200, or 503 with the reasons
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import weakref
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from typing import Any

from ._redis import RedisConnection, describe
from ._sansio import Finished, resume
from ._values import seconds
from .errors import KeysUnavailableError, UnknownKeyError
from .keys import KeyStore
from .sessions.signin import WebSignIn
from .verifier import CognitoVerifier

__all__ = ["DEFAULT_TIMEOUT", "Readiness", "acheck", "check"]

log = logging.getLogger("cognito_guard")

DEFAULT_TIMEOUT = 1.0
"""Seconds :func:`check` waits at most for the session store's answer."""

# A kid no JWKS holds: asking a store without usable keys for it makes the store fetch its JWKS
# (and answer UnknownKeyError once it has keys), through the store's own policy: single flight,
# back-off, max_wait. Asked only of a store whose keys do not serve: for a fresh JWKS an
# unknown kid would count against the unknown-kid cool-down.
_PROBE_KID = ""


@dataclass(frozen=True)
class Readiness:
    """The answer of :func:`check`: ``ready``, and the ``reasons`` when it is not.

    True in a boolean context when ready; :attr:`status_code` is the probe's HTTP status and
    :meth:`as_dict` its JSON body.

    Example::

        state = readiness.check(verifier)
        if not state:
            print(state.reasons)   # ('revocation list not loaded yet',)
    """

    ready: bool
    reasons: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ready

    @property
    def status_code(self) -> int:
        """200 when ready, else 503 (what a readiness probe answers)."""
        return 200 if self.ready else 503

    def as_dict(self) -> dict[str, Any]:
        """``{"ready": ..., "reasons": [...]}``, the body of a probe's answer."""
        return {"ready": self.ready, "reasons": list(self.reasons)}


def check(
    verifier: CognitoVerifier, sign_in: WebSignIn | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Readiness:
    """Whether ``verifier`` (and ``sign_in``'s session store) can serve requests now, and why not.

    Raises :class:`~cognito_guard.ConfigurationError` for a ``timeout`` that is not a positive
    number. See the module for what is asked and how long it may take.

    Example: ``readiness.check(verifier, sign_in).reasons``
    """
    flow = _flow(verifier, sign_in, seconds(timeout, "timeout"))
    step = resume(flow, None)
    while not isinstance(step, Finished):
        step = resume(flow, step.run())
    return step.value


async def acheck(
    verifier: CognitoVerifier, sign_in: WebSignIn | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> Readiness:
    """Like :func:`check`, without blocking the event loop.

    Example: ``state = await readiness.acheck(verifier, sign_in)``
    """
    flow = _flow(verifier, sign_in, seconds(timeout, "timeout"))
    step = resume(flow, None)
    while not isinstance(step, Finished):
        step = resume(flow, await step.arun())
    return step.value


# -- the protocol, written once ----------------------------------------------------------------


class _Step:
    """What the flow needs done: the sync driver calls :meth:`run`, the async one :meth:`arun`.

    Either returns None when it went well, or the exception it met (a step never raises).
    """

    def run(self) -> BaseException | None:
        raise NotImplementedError

    async def arun(self) -> BaseException | None:
        raise NotImplementedError


class _FetchKeys(_Step):
    """Have a key store without usable keys fetch its JWKS (its sync or its async form)."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def run(self) -> BaseException | None:
        try:
            self.store.get_key(_PROBE_KID, self.store._clock())
        except Exception as exc:
            return exc
        return None  # pragma: no cover - no JWKS holds the probe kid

    async def arun(self) -> BaseException | None:
        try:
            await self.store.aget_key(_PROBE_KID, self.store._clock())
        except Exception as exc:
            return exc
        return None  # pragma: no cover - no JWKS holds the probe kid


class _Ping(_Step):
    """``PING`` a Redis session store on a thread of its own (one at a time per connection),
    waited for at most ``timeout``: by the calling thread, or by a worker thread for a
    coroutine, so that the event loop never waits."""

    def __init__(self, connection: RedisConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout

    def run(self) -> BaseException | None:
        try:
            _pinging(self.connection).result(timeout=self.timeout)
        except Exception as exc:
            return exc
        return None

    async def arun(self) -> BaseException | None:
        return await asyncio.to_thread(self.run)


def _flow(
    verifier: CognitoVerifier, sign_in: WebSignIn | None, timeout: float
) -> Generator[_Step, BaseException | None, Readiness]:
    reasons: list[str] = []
    verifiers = [verifier]
    if sign_in is not None and sign_in.verifier is not verifier:
        verifiers.append(sign_in.verifier)
    for issuer, store in _key_stores(verifiers):
        if store._serving(store._clock()):
            continue
        failure = yield _FetchKeys(store)
        if not isinstance(failure, UnknownKeyError):  # keys arrived, without the probe kid
            reasons.append(_keys_reason(issuer, failure))
    for revocations in _distinct(v.revocations for v in verifiers):
        reason = _revocations_reason(revocations)
        if reason is not None:
            reasons.append(reason)
    connection = getattr(sign_in.store, "connection", None) if sign_in is not None else None
    if isinstance(connection, RedisConnection):
        failure = yield _Ping(connection, timeout)
        if failure is not None:
            reasons.append(_store_reason(failure, connection, timeout))
    return Readiness(not reasons, tuple(reasons))


def _key_stores(verifiers: Iterable[CognitoVerifier]) -> list[tuple[str, KeyStore]]:
    """(the first issuer it serves, the store) of each distinct key store, in issuer order."""
    seen: dict[int, tuple[str, KeyStore]] = {}
    for verifier in verifiers:
        for issuer in verifier.issuers:
            store = verifier.key_store(issuer)
            seen.setdefault(id(store), (issuer, store))
    return list(seen.values())


def _distinct(items: Iterable[Any]) -> list[Any]:
    found: dict[int, Any] = {}
    for item in items:
        if item is not None:
            found.setdefault(id(item), item)
    return list(found.values())


def _keys_reason(issuer: str, failure: BaseException | None) -> str:
    if isinstance(failure, KeysUnavailableError):
        # Its message names the JWKS URL (never credentials: refused in a JWKS URL) and the cause.
        return f"signing keys of {issuer} not available: {failure}"
    what = "no error" if failure is None else type(failure).__name__
    return f"signing keys of {issuer} not available ({what})"


def _revocations_reason(revocations: object) -> str | None:
    """Why the list cannot judge tokens now, from the state it shows (no I/O), or None.

    A list that is not kept from elsewhere (``MemoryRevocations``) always can; one that fails
    open serves while stale.
    """
    if not hasattr(revocations, "last_sync") or not hasattr(revocations, "max_staleness"):
        return None
    if getattr(revocations, "on_unavailable", "fail_closed") == "fail_open":
        return None
    last: float | None = revocations.last_sync
    if last is None:
        return "revocation list not loaded yet"
    clock: Callable[[], float] = revocations._clock  # type: ignore[attr-defined]
    age, bound = clock() - last, float(revocations.max_staleness)
    if age <= bound:
        return None
    return f"revocation list stale: last synchronised {age:.0f}s ago (max_staleness {bound:g}s)"


def _store_reason(failure: BaseException, connection: RedisConnection, timeout: float) -> str:
    # The words go to whoever calls the probe: the kind of failure, not the host or its error
    # text; the log has the details.
    if isinstance(failure, (TimeoutError, concurrent.futures.TimeoutError)):
        log.debug("readiness: %s did not answer within %gs", connection.url, timeout)
        return f"session store did not answer within {timeout:g}s"
    log.debug("readiness: %s: %s", connection.url, describe(failure, connection.secrets))
    return f"session store unreachable ({type(failure).__name__})"


# One PING in flight per connection: a probe that gives up leaves its ping running (bounded by
# the connection's own timeout), and the next probe waits for that one rather than starting
# another, so an unreachable store never holds more than one thread per connection.
_pings: weakref.WeakKeyDictionary[RedisConnection, concurrent.futures.Future[object]]
_pings = weakref.WeakKeyDictionary()
_pings_lock = threading.Lock()


def _pinging(connection: RedisConnection) -> concurrent.futures.Future[object]:
    with _pings_lock:
        future = _pings.get(connection)
        if future is not None and not future.done():
            return future
        future = concurrent.futures.Future()
        _pings[connection] = future
    threading.Thread(
        target=_ping, args=(connection, future), name="cognito_guard-readiness", daemon=True
    ).start()
    return future


def _ping(connection: RedisConnection, future: concurrent.futures.Future[object]) -> None:
    try:
        future.set_result(connection.sync.ping())
    except Exception as exc:  # handed to the waiting probe, which words it
        future.set_exception(exc)


def _forget_pings_in_child() -> None:
    # A forked worker (gunicorn --preload) has none of its parent's threads: a ping in flight at
    # the fork would never land there, and every probe of the worker would wait for it.
    global _pings, _pings_lock
    _pings = weakref.WeakKeyDictionary()
    _pings_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_forget_pings_in_child)
