"""In-process single flight: one caller fetches, every other caller that needs it waits for it.

The key store (:class:`~cognito_guard.keys.KeyStore`, a JWKS fetch) and the token slot of the
``httpx`` auth classes (:mod:`cognito_guard.auth`, a token request) both use it. A flight is
shared by threads and by coroutines of any event loop (Flask and asgiref run async views on a
loop per request), so it is a :class:`concurrent.futures.Future`, which both can wait on, and no
thread lock is held across I/O.

What stays with each owner: deciding, under its own lock (the one that guards the state its
decision reads), whether to answer at once, wait, or fetch, so that deciding and joining or
starting the flight are one step; where the fetch runs; and how long a caller waits. The key store
fetches on a thread of its own (or in a task, from a coroutine), in the background when cached
keys still serve, and lets a request wait at most ``KeyPolicy.max_wait``. The token slot fetches
on the calling thread (or in a task, from a coroutine), and every caller waits for the token it
needs.

Waiting has a sync and an async form (:meth:`Flight.result`, :meth:`Flight.aresult`): a thread
blocks, a coroutine awaits without blocking its loop. How the package pairs sync and async code
is written down in :mod:`cognito_guard._sansio`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # imported where a coroutine waits: a sync-only process never needs asyncio
    import asyncio

__all__ = ["Flight", "SingleFlight"]

T = TypeVar("T")


class Flight(Generic[T]):
    """One fetch under way and its outcome, for every thread and coroutine waiting for it.

    It lands once, with :meth:`land` or :meth:`fail`; later outcomes are ignored. A waiter that
    gives up (a time-out, a cancelled coroutine) leaves it going for the others.
    """

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: concurrent.futures.Future[T] = concurrent.futures.Future()
        # A running future cannot be cancelled: a waiter's cancellation must not end the flight.
        self._future.set_running_or_notify_cancel()

    def done(self) -> bool:
        """Whether the flight has landed."""
        return self._future.done()

    def land(self, value: T) -> None:
        """Hand ``value`` to every waiter (unless the flight has landed already)."""
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            self._future.set_result(value)

    def fail(self, error: Exception) -> None:
        """Raise ``error`` in every waiter (unless the flight has landed already)."""
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            self._future.set_exception(error)

    def landed(self, within: float | None = None) -> bool:
        """Block until the flight lands, at most ``within`` seconds; whether it has."""
        concurrent.futures.wait((self._future,), within)
        return self._future.done()

    async def alanded(self, within: float | None = None) -> bool:
        """Like :meth:`landed`, without blocking the event loop."""
        import asyncio

        # A time-out cancels only the wrapper: the flight is running and goes on. The flight's
        # own error is read with result(), not here.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.wrap_future(self._future), within)
        return self._future.done()

    def result(self) -> T:
        """Block until the flight lands; its value, or its error raised."""
        return self._future.result()

    async def aresult(self) -> T:
        """Like :meth:`result`, without blocking the event loop."""
        import asyncio

        return await asyncio.wrap_future(self._future)


class SingleFlight(Generic[T]):
    """The flight under way (at most one), and the task that performs it, if it is a task.

    It has no lock of its own: its owner calls :meth:`take_off`, :meth:`clear` and
    :meth:`stranded` under the owner's lock.
    """

    __slots__ = ("_task_flight", "current", "task")

    def __init__(self) -> None:
        self.current: Flight[T] | None = None
        # The last task started: referenced so that it cannot be collected while it runs.
        self.task: asyncio.Task[None] | None = None
        self._task_flight: Flight[T] | None = None  # the flight that task performs

    def take_off(self) -> Flight[T]:
        """A new flight, made the one under way."""
        flight: Flight[T] = Flight()
        self.current = flight
        return flight

    def clear(self, flight: Flight[T]) -> None:
        """``flight`` has landed, or is given up: it is no longer the one under way."""
        if self.current is flight:
            self.current = None

    def start_task(
        self, flight: Flight[T], perform: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        """Perform ``flight`` in a task of its own, on the running loop.

        A task of its own, so that a cancelled caller does not cancel the fetch that others
        wait for. Its outcome reaches the waiters through the flight, so the task's own
        exception is marked seen (asyncio would otherwise log it when the task is collected).
        """
        import asyncio

        task = asyncio.get_running_loop().create_task(perform)
        task.add_done_callback(_seen)
        self.task, self._task_flight = task, flight
        return task

    def stranded(self) -> Flight[T] | None:
        """The flight under way if its task can never finish it (pending on a closed loop).

        A loop run by hand for one request may be closed without cancelling its tasks: such a
        task never runs again, and would never land its flight. The owner lands it or performs
        it some other way; the task is no longer counted as performing it.
        """
        task, flight = self.task, self.current
        if (
            flight is not None
            and self._task_flight is flight
            and task is not None
            and not task.done()
            and task.get_loop().is_closed()
        ):
            self._task_flight = None
            return flight
        return None


def _seen(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
