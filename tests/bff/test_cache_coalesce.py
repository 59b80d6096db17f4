"""Coalescing in one process: one flight per key, safe under cancellation both ways."""

from __future__ import annotations

import asyncio
import gc

import pytest

from scallion.bff.coalesce import Coalescer, FlightCancelled

from ._cache_support import Upstream


async def test_concurrent_calls_share_one_flight() -> None:
    flights: Coalescer[str] = Coalescer()
    upstream = Upstream("v", delay=0.02)
    results = await asyncio.gather(*(flights.run("k", upstream) for _ in range(100)))
    assert upstream.calls == 1
    assert [value for value, _ in results] == ["v"] * 100
    assert [joined for _, joined in results].count(False) == 1
    assert len(flights) == 0


async def test_waiters_get_the_same_exception() -> None:
    flights: Coalescer[str] = Coalescer()
    upstream = Upstream(delay=0.01)
    upstream.error = ValueError("boom")
    results = await asyncio.gather(
        *(flights.run("k", upstream) for _ in range(10)), return_exceptions=True
    )
    assert upstream.calls == 1
    assert all(r is upstream.error for r in results)


async def test_different_keys_fly_separately() -> None:
    flights: Coalescer[str] = Coalescer()
    upstream = Upstream(delay=0.01)
    await asyncio.gather(flights.run("a", upstream), flights.run("b", upstream))
    assert upstream.calls == 2


async def test_cancelled_waiter_does_not_cancel_the_others() -> None:
    flights: Coalescer[str] = Coalescer()
    upstream = Upstream("v", delay=0.05)
    first = asyncio.create_task(flights.run("k", upstream))
    others = [asyncio.create_task(flights.run("k", upstream)) for _ in range(5)]
    await upstream.started.wait()
    others[2].cancel()
    first.cancel()  # the caller that started the flight goes away too
    results = await asyncio.gather(first, *others, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i not in (0, 3)] == [("v", True)] * 4
    assert upstream.calls == 1


async def test_flight_is_cancelled_when_every_waiter_left() -> None:
    flights: Coalescer[str] = Coalescer()
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    tasks = [asyncio.create_task(flights.run("k", slow)) for _ in range(3)]
    await asyncio.sleep(0.01)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.wait_for(cancelled.wait(), 1)
    assert len(flights) == 0


async def test_background_flight_runs_without_waiters_and_aclose_stops_it() -> None:
    flights: Coalescer[None] = Coalescer()
    done = asyncio.Event()
    stopped = asyncio.Event()

    async def quick() -> None:
        done.set()

    async def forever() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            stopped.set()

    assert flights.start("a", quick)
    await asyncio.wait_for(done.wait(), 1)
    assert flights.start("b", forever)
    assert not flights.start("b", forever)
    await asyncio.sleep(0)
    await flights.aclose()
    assert stopped.is_set() and len(flights) == 0


async def test_waiter_of_a_flight_cancelled_by_aclose_gets_flight_cancelled() -> None:
    flights: Coalescer[str] = Coalescer()
    waiter = asyncio.create_task(flights.run("k", Upstream(delay=10)))
    await asyncio.sleep(0.01)
    await flights.aclose()
    with pytest.raises(FlightCancelled):
        await waiter


async def test_failure_nobody_waits_for_is_not_reported_as_unretrieved() -> None:
    flights: Coalescer[None] = Coalescer()
    seen: list[object] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))

    async def boom() -> None:
        raise ValueError("background failure")

    flights.start("k", boom)
    await asyncio.sleep(0.01)
    gc.collect()
    await asyncio.sleep(0)
    assert seen == []
