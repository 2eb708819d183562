"""Redis operations as values, for a protocol written once as a generator and carried out by a
sync or an asyncio driver (httpx's auth flows are the model).

The protocol yields operations and receives their results; :class:`Steps` sends each result
back in, or throws the operation's exception back in, so the protocol alone decides what a
failure means. :func:`run` and :func:`arun` carry out the Redis operations.

Example::

    def flow() -> Generator[RedisOp, Any, bytes | None]:
        return (yield Get("cognito_guard:key"))

    steps = Steps(flow())
    while (op := steps.next()) is not None:
        try:
            steps.result = run(conn.sync, op)
        except BaseException as exc:
            steps.error = exc
    value = steps.value
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .lock import RedisLock

if TYPE_CHECKING:
    from ._types import AsyncClient, SyncClient

__all__ = ["Acquire", "Get", "RedisOp", "Release", "Script", "Steps", "arun", "run"]


@dataclass(frozen=True)
class Get:
    """``GET name``: the value, or None."""

    name: str


@dataclass(frozen=True)
class _LockOp:
    lock: RedisLock


class Acquire(_LockOp):
    """Try the lock once: True when it is ours."""


class Release(_LockOp):
    """Release the lock if it is still ours."""


@dataclass(frozen=True)
class Script:
    """Run the Lua ``source`` (``EVALSHA``, loaded on first use) on ``keys`` with ``args``."""

    source: str
    keys: tuple[str, ...]
    args: tuple[str | bytes | int, ...]


RedisOp = Get | Acquire | Release | Script


def run(client: SyncClient, op: RedisOp) -> Any:
    """Carry out ``op`` on a sync client; returns its result."""
    if isinstance(op, Get):
        return client.get(op.name)
    if isinstance(op, Acquire):
        return op.lock.acquire(client)
    if isinstance(op, Release):
        return op.lock.release(client)
    return client.register_script(op.source)(keys=list(op.keys), args=list(op.args))


async def arun(client: AsyncClient, op: RedisOp) -> Any:
    """Carry out ``op`` on an asyncio client; returns its result."""
    if isinstance(op, Get):
        return await client.get(op.name)
    if isinstance(op, Acquire):
        return await op.lock.aacquire(client)
    if isinstance(op, Release):
        return await op.lock.arelease(client)
    script = client.register_script(op.source)
    return await script(keys=list(op.keys), args=list(op.args))


Op = TypeVar("Op")
Result = TypeVar("Result")


class Steps(Generic[Op, Result]):
    """Steps a flow for a driver: set :attr:`result` (or :attr:`error`) after each op, and
    :meth:`next` sends it back in (or throws it back in)."""

    __slots__ = ("error", "flow", "result", "value")

    def __init__(self, flow: Generator[Op, Any, Result]) -> None:
        self.flow = flow
        self.result: Any = None
        self.error: BaseException | None = None
        self.value: Result | None = None

    def next(self) -> Op | None:
        """The next op, or None when the flow has returned (then :attr:`value` holds what it
        returned); an exception the flow raises propagates."""
        try:
            if self.error is None:
                return self.flow.send(self.result)
            error, self.error = self.error, None
            return self.flow.throw(error)
        except StopIteration as stop:
            self.value = stop.value
            return None
