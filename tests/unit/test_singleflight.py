"""The single-flight primitive shared by the key store and the token slot."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cognito_guard._singleflight import Flight, SingleFlight


def test_a_flight_lands_once_for_every_waiter() -> None:
    flight: Flight[int] = Flight()
    results: list[int] = []
    waiters = [threading.Thread(target=lambda: results.append(flight.result())) for _ in range(5)]
    for waiter in waiters:
        waiter.start()
    flight.land(1)
    flight.land(2)  # a late outcome (a stranded task collected later) is ignored
    flight.fail(RuntimeError("late"))
    for waiter in waiters:
        waiter.join(5)
    assert results == [1] * 5
    assert flight.done()


def test_a_failed_flight_raises_its_error_in_every_waiter() -> None:
    flight: Flight[int] = Flight()
    flight.fail(LookupError("no token"))
    with pytest.raises(LookupError, match="no token"):
        flight.result()
    assert flight.landed(within=0)  # the error is read with result(), not raised here


def test_a_waiter_that_gives_up_leaves_the_flight_going() -> None:
    flight: Flight[int] = Flight()
    assert not flight.landed(within=0.01)
    assert not flight.done()
    flight.land(7)
    assert flight.landed(within=0.01)
    assert flight.result() == 7


@pytest.mark.anyio
async def test_an_async_waiter_that_times_out_or_is_cancelled_leaves_the_flight_going() -> None:
    flight: Flight[int] = Flight()
    assert not await flight.alanded(within=0.01)
    waiter = asyncio.ensure_future(flight.aresult())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not flight.done()  # the waiter's cancellation did not cancel the flight
    threading.Timer(0.01, flight.land, (3,)).start()  # landed from another thread
    assert await flight.alanded(within=5)
    assert await flight.aresult() == 3


@pytest.mark.anyio
async def test_an_async_waiter_sees_the_flight_error() -> None:
    flight: Flight[int] = Flight()
    flight.fail(LookupError("no token"))
    assert await flight.alanded(within=1)
    with pytest.raises(LookupError):
        await flight.aresult()


def test_one_flight_under_way_until_it_is_cleared() -> None:
    flights: SingleFlight[int] = SingleFlight()
    first = flights.take_off()
    assert flights.current is first
    flights.clear(Flight())  # another flight landing does not clear this one
    assert flights.current is first
    flights.clear(first)
    assert flights.current is None


def test_a_flight_left_to_a_task_on_a_closed_loop_is_stranded() -> None:
    flights: SingleFlight[int] = SingleFlight()
    flight = flights.take_off()
    loop = asyncio.new_event_loop()

    async def forever() -> None:
        await asyncio.Event().wait()

    async def start() -> None:
        flights.start_task(flight, forever())
        assert flights.stranded() is None  # its loop runs: the task may still land it

    try:
        loop.run_until_complete(start())
    finally:
        loop.close()  # the task is left pending: it never runs again
    assert flights.stranded() is flight
    assert flights.stranded() is None  # handed over once
    task = flights.task
    assert task is not None and not task.done()
    # Closing the pending coroutine here, where that is expected, not when it is collected.
    coroutine = task.get_coro()
    assert coroutine is not None
    coroutine.close()
