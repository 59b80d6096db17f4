"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from scallion.bff.breaker import BreakerState, CircuitBreaker, CountWindow, TimeWindow
from scallion.bff.errors import BreakerOpen, UpstreamStatusError
from scallion.errors import HttpError

from ._fake_clock import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def make(clock: FakeClock, **options: object) -> CircuitBreaker:
    defaults: dict[str, object] = {
        "failure_rate": 0.5,
        "minimum_calls": 4,
        "window": 10,
        "wait_duration": 5.0,
        "half_open_calls": 2,
    }
    defaults.update(options)
    return CircuitBreaker("users", clock=clock, **defaults)  # type: ignore[arg-type]


def hit(breaker: CircuitBreaker, failed: bool, duration: float | None = None) -> None:
    breaker.record(breaker.try_acquire(), failed, duration)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_at_threshold_only_after_minimum_calls(clock: FakeClock) -> None:
    breaker = make(clock)
    for _ in range(3):
        hit(breaker, True)
    assert breaker.state is CLOSED  # 100 % failures, but only 3 calls
    hit(breaker, False)
    assert breaker.state is OPEN  # 3 of 4 failed >= 50 %


def test_stays_closed_below_threshold(clock: FakeClock) -> None:
    breaker = make(clock)
    for failed in [True, False, False, False, True, False, False, False, True, False]:
        hit(breaker, failed)
    assert breaker.state is CLOSED
    assert breaker.metrics().failure_rate == pytest.approx(0.3)


def test_count_window_forgets_old_calls(clock: FakeClock) -> None:
    breaker = make(clock, window=4, minimum_calls=4)
    for failed in [True, False, False, False, True, False, False, False]:
        hit(breaker, failed)
    assert breaker.metrics().calls == 4
    assert breaker.metrics().failures == 1
    assert breaker.state is CLOSED


def test_fails_fast_while_open_with_retry_after(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1)
    hit(breaker, True)
    assert breaker.state is OPEN
    clock.advance(2)
    with pytest.raises(BreakerOpen) as info:
        breaker.try_acquire()
    assert info.value.retry_after == pytest.approx(3)
    assert info.value.upstream == "users"
    assert info.value.status == 503
    assert info.value.headers["retry-after"] == "3"
    assert breaker.metrics().rejected == 1
    assert breaker.metrics().retry_after == pytest.approx(3)


def test_half_open_after_wait_limits_probes(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=2)
    hit(breaker, True)
    clock.advance(5)
    first = breaker.try_acquire()
    assert breaker.state is HALF_OPEN
    second = breaker.try_acquire()
    with pytest.raises(BreakerOpen):
        breaker.try_acquire()  # only two probes
    breaker.record(first, False)
    with pytest.raises(BreakerOpen):
        breaker.try_acquire()  # two probes were permitted; wait for their verdict
    breaker.record(second, False)
    assert breaker.state is CLOSED


def test_half_open_concurrency_below_probe_count(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=3, half_open_concurrency=1)
    hit(breaker, True)
    clock.advance(5)
    probe = breaker.try_acquire()
    with pytest.raises(BreakerOpen):
        breaker.try_acquire()
    breaker.record(probe, False)
    hit(breaker, False)
    assert breaker.state is HALF_OPEN
    hit(breaker, False)
    assert breaker.state is CLOSED


def test_bad_probes_reopen(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=4)
    hit(breaker, True)
    clock.advance(5)
    hit(breaker, False)
    hit(breaker, True)
    assert breaker.state is HALF_OPEN  # 1 of 4 failed: not decided yet
    hit(breaker, True)  # 2 of 4 failed: >= 50 % whatever the rest do
    assert breaker.state is OPEN
    with pytest.raises(BreakerOpen) as info:
        breaker.try_acquire()
    assert info.value.retry_after == pytest.approx(5)


def test_ignored_probe_frees_its_slot(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=1)
    hit(breaker, True)
    clock.advance(5)
    breaker.record(breaker.try_acquire(), None)  # e.g. cancelled
    assert breaker.state is HALF_OPEN
    hit(breaker, False)
    assert breaker.state is CLOSED


def test_results_from_before_a_state_change_are_ignored(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=1)
    stale = breaker.try_acquire()
    hit(breaker, True)
    clock.advance(5)
    probe = breaker.try_acquire()
    breaker.record(stale, True)  # a CLOSED-era call finishing late
    assert breaker.state is HALF_OPEN
    breaker.record(probe, False)
    assert breaker.state is CLOSED


def test_closing_starts_a_fresh_window(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=2, half_open_calls=1)
    hit(breaker, True)
    hit(breaker, True)
    clock.advance(5)
    hit(breaker, False)
    assert breaker.state is CLOSED
    assert breaker.metrics().calls == 0
    hit(breaker, True)
    assert breaker.state is CLOSED  # one failure, below minimum_calls


def test_slow_calls_open_the_breaker(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate=0.5, minimum_calls=4)
    hit(breaker, False, duration=0.1)
    hit(breaker, False, duration=1.0)
    hit(breaker, False, duration=0.2)
    assert breaker.state is CLOSED
    hit(breaker, False, duration=3.0)
    assert breaker.state is OPEN
    assert breaker.metrics().failures == 0


def test_slow_call_duration_is_measured_with_the_clock(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate=1.0, minimum_calls=2)
    for _ in range(2):
        permit = breaker.try_acquire()
        clock.advance(1.5)
        breaker.record(permit, False)
    assert breaker.state is OPEN


def test_slow_probes_reopen(clock: FakeClock) -> None:
    breaker = make(clock, slow_call_duration=1.0, slow_call_rate=0.5, minimum_calls=1)
    hit(breaker, True)
    clock.advance(5)
    hit(breaker, False, duration=2.0)
    assert breaker.state is OPEN


def test_time_window_counts_recent_calls_only(clock: FakeClock) -> None:
    breaker = make(clock, window=TimeWindow(10, buckets=10), minimum_calls=4)
    for _ in range(3):
        hit(breaker, True)
    clock.advance(11)  # those three failures leave the window
    hit(breaker, True)
    assert breaker.state is CLOSED
    assert breaker.metrics().calls == 1
    for _ in range(3):
        clock.advance(1)
        hit(breaker, True)
    assert breaker.state is OPEN


def test_time_window_buckets_expire_one_by_one() -> None:
    window = TimeWindow(10, buckets=5)  # 2-second buckets
    window.record(True, False, 100.0)
    window.record(False, False, 103.0)
    assert window.totals(103.0) == (2, 1, 0)
    assert window.totals(110.0) == (1, 0, 0)  # the bucket of t=100 has left
    assert window.totals(114.0) == (0, 0, 0)


def test_count_window_ring() -> None:
    window = CountWindow(3)
    for failed, slow in [(True, True), (False, True), (False, False), (True, False)]:
        window.record(failed, slow)
    assert window.totals() == (3, 1, 1)


def test_state_change_listeners_and_listener_errors(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, half_open_calls=1)
    seen: list[tuple[BreakerState, BreakerState]] = []

    @breaker.on_state_change
    def record(b: CircuitBreaker, old: BreakerState, new: BreakerState) -> None:
        assert b is breaker
        seen.append((old, new))

    breaker.on_state_change(lambda *args: 1 / 0)  # logged, never raised into the call
    hit(breaker, True)
    clock.advance(5)
    hit(breaker, False)
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_metrics_snapshot(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=3, slow_call_duration=1.0)
    hit(breaker, True, 0.1)
    hit(breaker, False, 2.0)
    m = breaker.metrics()
    assert (m.name, m.state, m.calls, m.failures, m.slow_calls) == ("users", CLOSED, 2, 1, 1)
    assert m.failure_rate == 0.5 and m.slow_call_rate == 0.5
    assert m.opened_at is None
    hit(breaker, True)
    assert breaker.metrics().opened_at == clock.now


async def test_call_counts_failures_by_status(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=2)

    async def not_found() -> None:
        raise HttpError(404)

    async def bad_gateway() -> None:
        raise UpstreamStatusError(503, upstream="users")

    for _ in range(5):
        with pytest.raises(HttpError):
            await breaker.call(not_found)
    assert breaker.state is CLOSED  # a 4xx says nothing about the upstream's health
    for _ in range(4):
        with pytest.raises(UpstreamStatusError):
            await breaker.call(bad_gateway)
    assert breaker.state is CLOSED  # 4xx answers count as healthy calls: 4 of 9 failed
    with pytest.raises(UpstreamStatusError):
        await breaker.call(bad_gateway)
    assert breaker.state is OPEN
    with pytest.raises(BreakerOpen):
        await breaker.call(bad_gateway)


async def test_record_exception_is_configurable(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, record_exception=lambda e: isinstance(e, OSError))

    async def boom(exc: Exception) -> None:
        raise exc

    with pytest.raises(KeyError):
        await breaker.call(boom, KeyError("x"))
    assert breaker.state is CLOSED
    with pytest.raises(ConnectionRefusedError):
        await breaker.call(boom, ConnectionRefusedError())
    assert breaker.state is OPEN


async def test_async_with_and_decorator(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=2)

    @breaker
    async def fetch(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * 2

    assert await fetch(21) == 42
    assert fetch.__name__ == "fetch"
    async with breaker:
        pass
    with pytest.raises(ValueError):
        async with breaker:
            raise ValueError("boom")
    with pytest.raises(ValueError):
        await fetch(-1)
    assert breaker.state is OPEN  # 2 of 4 failed
    with pytest.raises(BreakerOpen):
        async with breaker:
            raise AssertionError("never runs")


async def test_async_with_is_safe_across_concurrent_tasks(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=100)
    gate = asyncio.Event()

    async def worker(fail: bool) -> None:
        async with breaker:
            await gate.wait()
            if fail:
                raise RuntimeError

    tasks = [asyncio.create_task(worker(i % 2 == 0)) for i in range(10)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert breaker.metrics().calls == 10
    assert breaker.metrics().failures == 5


async def test_cancelled_calls_do_not_count(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1)

    async def hang() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.metrics().calls == 0
    assert breaker.state is CLOSED


async def test_record_exception_may_ignore_an_outcome(clock: FakeClock) -> None:
    breaker = make(clock, minimum_calls=1, record_exception=lambda e: None)

    async def boom() -> None:
        raise OSError

    for _ in range(3):
        with pytest.raises(OSError):
            await breaker.call(boom)
    assert breaker.metrics().calls == 0


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_rate=0)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_rate=1.5)
    with pytest.raises(ValueError):
        CircuitBreaker(minimum_calls=0)
    with pytest.raises(ValueError):
        CircuitBreaker(window=0)
    with pytest.raises(ValueError):
        TimeWindow(0)


async def test_async_with_in_a_task_spawned_inside_another_block(clock: FakeClock) -> None:
    outer, inner = make(clock, minimum_calls=100), make(clock, minimum_calls=100)
    started, release = asyncio.Event(), asyncio.Event()

    async def child() -> None:
        async with inner:
            started.set()
            await release.wait()
            raise RuntimeError("inner fails")

    async with outer:
        task = asyncio.create_task(child())
        await started.wait()
    release.set()
    with pytest.raises(RuntimeError):
        await task
    assert (outer.metrics().calls, outer.metrics().failures) == (1, 0)
    assert (inner.metrics().calls, inner.metrics().failures) == (1, 1)
