"""Breakers sharing OPEN through the real Redis, and falling back when Redis is gone."""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from scallion.bff.breaker import BreakerState, CircuitBreaker
from scallion.bff.breaker_redis import RedisBreakerStorage
from scallion.bff.errors import BreakerOpen
from scallion.stores.redis import RedisStore

from ._fake_clock import FakeClock

REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


class CountingStore(RedisStore):
    """A real RedisStore that counts how often the breaker reads it."""

    reads = 0

    async def expires_in(self, key: str) -> float | None:
        type(self).reads += 1
        return await super().expires_in(key)


@pytest.fixture
async def stores() -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    prefix = f"scallion-test:{uuid.uuid4().hex}:"
    # Two stores, two connection pools: like two gateway processes.
    a, b = RedisStore(REDIS_URL, prefix=prefix), RedisStore(REDIS_URL, prefix=prefix)
    yield a, b
    await a.clear()
    await a.close()
    await b.close()


def breaker(storage: RedisBreakerStorage, clock: FakeClock | None = None) -> CircuitBreaker:
    return CircuitBreaker(
        "users@10.0.0.1",
        minimum_calls=2,
        wait_duration=5.0,
        half_open_calls=1,
        storage=storage,
        clock=clock or FakeClock(),
    )


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        b.record(b.try_acquire(), True)


async def test_one_opens_the_other_sees_open(stores: tuple[RedisStore, RedisStore]) -> None:
    first = breaker(RedisBreakerStorage(stores[0]))
    second = breaker(RedisBreakerStorage(stores[1]))
    await second.sync()
    assert second.state is BreakerState.CLOSED
    fail(first, 2)
    assert first.state is BreakerState.OPEN
    await first.sync()  # the publish has landed
    await second.sync()
    assert second.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as info:
        second.try_acquire()
    assert 4.5 < info.value.retry_after <= 5.0
    assert await stores[0].expires_in("breaker:users@10.0.0.1") is not None


async def test_remote_open_is_picked_up_without_explicit_sync(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    first = breaker(RedisBreakerStorage(stores[0]))
    clock = FakeClock()
    second = breaker(RedisBreakerStorage(stores[1]), clock)
    fail(first, 2)
    await first.close()
    second.record(second.try_acquire(), False)  # starts a background refresh
    for _ in range(50):
        await asyncio.sleep(0.01)
        if second.state is BreakerState.OPEN:
            break
    assert second.state is BreakerState.OPEN
    await second.close()


async def test_hot_path_reads_redis_at_most_once_per_interval(redis_store_prefix: str) -> None:
    store = CountingStore(REDIS_URL, prefix=redis_store_prefix)
    clock = FakeClock()
    b = CircuitBreaker("hot", storage=RedisBreakerStorage(store), clock=clock, sync_interval=0.2)
    CountingStore.reads = 0
    for _ in range(1000):
        b.record(b.try_acquire(), False)
        await asyncio.sleep(0)
    await b.close()
    assert CountingStore.reads == 1  # the fake clock never moved past the interval
    clock.advance(0.25)
    b.record(b.try_acquire(), False)
    await b.close()
    assert CountingStore.reads == 2
    await store.clear()
    await store.close()


async def test_redis_unreachable_falls_back_to_local_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = RedisBreakerStorage("redis://127.0.0.1:1/0", timeout=0.2)
    b = breaker(storage)
    with caplog.at_level(logging.WARNING, logger="scallion.bff.breaker"):
        b.record(b.try_acquire(), False)
        await b.sync()  # never raises
        fail(b, 1)  # 1 of 2 failed
        assert b.state is BreakerState.OPEN  # local decision still made
        await b.sync()
    with pytest.raises(BreakerOpen):
        b.try_acquire()
    assert b.metrics().storage_errors >= 2
    warnings = [r for r in caplog.records if "shared state unavailable" in r.message]
    assert len(warnings) == 1  # logged once per outage, counted every time
    await b.close()
    await storage.close()


async def test_reopen_after_failed_probe_publishes_again(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    clock = FakeClock()
    first = breaker(RedisBreakerStorage(stores[0]), clock)
    fail(first, 2)
    await first.sync()
    await stores[0].delete("breaker:users@10.0.0.1")  # the fleet-wide open has expired
    clock.advance(5)
    fail(first, 1)  # the probe fails: open again, and say so
    assert first.state is BreakerState.OPEN
    await first.close()
    assert await stores[1].expires_in("breaker:users@10.0.0.1") is not None


@pytest.fixture
def redis_store_prefix() -> str:
    return f"scallion-test:{uuid.uuid4().hex}:"


async def test_own_open_echoed_back_does_not_disturb_probing(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    b = CircuitBreaker(
        "echo",
        minimum_calls=2,
        wait_duration=0.3,
        half_open_calls=1,
        storage=RedisBreakerStorage(stores[0]),
    )
    changes: list[BreakerState] = []
    b.on_state_change(lambda _b, _old, new: changes.append(new))
    fail(b, 2)
    await b.sync()
    await asyncio.sleep(0.3)  # the local wait is over; Redis's copy ends about now too
    probe = b.try_acquire()
    assert b.state is BreakerState.HALF_OPEN
    await b.sync()
    assert b.state is BreakerState.HALF_OPEN
    b.record(probe, False)
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]
    await b.close()
