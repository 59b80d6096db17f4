"""Breakers sharing OPEN through a real Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _redis_cluster import ClusterProcesses

from scallion.bff.breaker import BreakerState, CircuitBreaker
from scallion.bff.breaker_redis import RedisBreakerStorage
from scallion.bff.errors import BreakerOpen
from scallion.stores.redis import RedisStore

from ._fake_clock import FakeClock


@pytest.fixture
async def stores(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    a = RedisStore(redis_cluster.url, prefix=cluster_prefix)
    b = RedisStore(redis_cluster.url, prefix=cluster_prefix)
    yield a, b
    await a.close()
    await b.close()


def breaker(name: str, storage: RedisBreakerStorage) -> CircuitBreaker:
    return CircuitBreaker(
        name, minimum_calls=2, wait_duration=5.0, half_open_calls=1, storage=storage,
        clock=FakeClock(),
    )  # fmt: skip


async def test_one_opens_the_others_see_open(stores: tuple[RedisStore, RedisStore]) -> None:
    names = [f"svc{i}@10.0.0.{i}:80" for i in range(12)]  # names on every master
    firsts = [breaker(n, RedisBreakerStorage(stores[0])) for n in names]
    seconds = [breaker(n, RedisBreakerStorage(stores[1])) for n in names]
    for first, second in zip(firsts, seconds, strict=True):
        await second.sync()
        assert second.state is BreakerState.CLOSED
        for _ in range(2):
            first.record(first.try_acquire(), True)
        assert first.state is BreakerState.OPEN
        await first.sync()  # the publish has landed
        await second.sync()
        assert second.state is BreakerState.OPEN
        with pytest.raises(BreakerOpen) as info:
            second.try_acquire()
        assert 4.5 < info.value.retry_after <= 5.0
        await first.close()
        await second.close()


async def test_breaker_storage_by_cluster_url(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> None:
    one = RedisBreakerStorage(redis_cluster.url, prefix=cluster_prefix)
    two = RedisBreakerStorage(redis_cluster.url, prefix=cluster_prefix)
    assert isinstance(one.store, RedisStore) and one.store.cluster
    await one.publish_open("users@{10.0.0.1}", 3.0)
    left = await two.open_for("users@{10.0.0.1}")
    assert left is not None and 2.5 < left <= 3.0
    assert await two.open_for("orders") is None
    await one.store.delete_all(cluster_prefix)
    await one.close()
    await two.close()
