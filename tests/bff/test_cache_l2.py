"""L2 on the real Redis: round trips, records shared between processes, cross-process herds.

Two ``Cache`` instances with their own Redis connections stand in for two processes.
"""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from scallion.bff.cache import Cache, CachedError, CacheEntry
from scallion.stores import MemoryStore
from scallion.stores.redis import RedisStore

from ._cache_support import (  # noqa: F401
    REDIS_URL,
    FakeClock,
    Upstream,
    clock,
    make_cache,
    namespace,
)

MakeCache = Callable[..., Cache]


@pytest.mark.parametrize("value", [{"a": [1, 2.5, None]}, [1, "x"], b"\x00\xffbytes", "text", 7])
async def test_l2_round_trip(make_cache: MakeCache, value: object) -> None:
    one, two = make_cache(), make_cache()
    await one.get_or_fetch("k", Upstream(value))
    other = Upstream("not used")
    result = await two.get_or_fetch("k", other)
    assert (result.status, result.value) == ("hit", value)
    assert other.calls == 0 and two.stats.l2_hits == 1
    again = await two.get_or_fetch("k", other)
    assert again.status == "hit" and two.stats.l2_hits == 1  # now served by L1


async def test_l2_record_keeps_age_and_windows(make_cache: MakeCache, clock: FakeClock) -> None:
    one = make_cache(clock=clock, wall_clock=clock)
    two = make_cache(clock=clock, wall_clock=clock)
    await one.get_or_fetch(
        "k", Upstream(CacheEntry("v1", cache_control="max-age=10, stale-while-revalidate=30"))
    )
    clock.advance(12)
    refresh = Upstream(CacheEntry("v2", cache_control="max-age=10"), delay=0.01)
    result = await two.get_or_fetch("k", refresh)
    assert (result.status, result.value, result.age) == ("stale", "v1", 12)
    await asyncio.sleep(0.05)
    assert refresh.calls == 1 and two.stats.refreshes == 1
    fresh = await one.get("k")  # its own L1 copy is stale: get() looks in L2
    assert fresh is not None and (fresh.value, fresh.status) == ("v2", "hit")


async def test_cached_failure_is_shared_through_l2(make_cache: MakeCache) -> None:
    from scallion.errors import HttpError

    one, two = make_cache(negative_ttl=5), make_cache(negative_ttl=5)
    failing = Upstream()
    failing.error = HttpError(404, "no such user")
    with pytest.raises(HttpError):
        await one.get_or_fetch("k", failing)
    other = Upstream()
    with pytest.raises(CachedError) as info:
        await two.get_or_fetch("k", other)
    assert (info.value.status, info.value.message) == (404, "no such user")
    assert other.calls == 0


async def test_hidden_failure_message_is_not_copied(make_cache: MakeCache) -> None:
    one, two = make_cache(negative_ttl=5), make_cache(negative_ttl=5)
    failing = Upstream()
    failing.error = ConnectionError("10.0.0.7:5432 refused")
    with pytest.raises(ConnectionError):
        await one.get_or_fetch("k", failing)
    with pytest.raises(CachedError) as info:
        await two.get_or_fetch("k", Upstream())
    assert info.value.status == 500 and "10.0.0.7" not in info.value.message


async def test_invalidate_reaches_l2(make_cache: MakeCache) -> None:
    one, two = make_cache(), make_cache()
    await one.get_or_fetch("k", Upstream("v"))
    await one.invalidate("k")
    upstream = Upstream("v2")
    assert (await two.get_or_fetch("k", upstream)).status == "miss"


async def test_corrupt_l2_record_is_a_miss(make_cache: MakeCache, namespace: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.set(f"{namespace}:v:k", b"\x01garbage")
    await client.aclose()
    cache = make_cache()
    upstream = Upstream("v")
    assert (await cache.get_or_fetch("k", upstream)).status == "miss"
    assert cache.stats.l2_errors == 0


async def test_herd_across_two_processes_makes_one_upstream_call(make_cache: MakeCache) -> None:
    one, two = make_cache(), make_cache()
    upstream = Upstream({"cold": True}, delay=0.05)
    calls = [one.get_or_fetch("cold", upstream) for _ in range(50)]
    calls += [two.get_or_fetch("cold", upstream) for _ in range(50)]
    results = await asyncio.gather(*calls)
    assert upstream.calls == 1
    assert {str(r.value) for r in results} == {str({"cold": True})}
    statuses = [r.status for r in results]
    assert statuses.count("miss") == 1 and statuses.count("coalesced") == 99
    assert one.stats.upstream_calls + two.stats.upstream_calls == 1


async def test_cross_process_failure_without_negative_cache_lets_waiter_fetch(
    make_cache: MakeCache,
) -> None:
    one, two = make_cache(), make_cache()
    failing = Upstream(delay=0.03)
    failing.error = ConnectionError("down")
    working = Upstream("ok")
    first = asyncio.create_task(one.get_or_fetch("k", failing))
    await failing.started.wait()
    second = await two.get_or_fetch("k", working)  # waits on the lock, then fetches itself
    assert (second.status, second.value) == ("miss", "ok")
    with pytest.raises(ConnectionError):
        await first


async def test_store_objects_work_as_l2() -> None:
    shared = MemoryStore()
    one, two = Cache(redis=shared), Cache(redis=shared)
    await one.get_or_fetch("k", Upstream("v"))
    assert (await two.get_or_fetch("k", Upstream())).status == "hit"
    await one.aclose()
    await two.aclose()


async def test_redis_client_is_wrapped_and_not_closed(namespace: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    cache = Cache(redis=client, namespace=namespace)
    await cache.get_or_fetch("k", Upstream("v"))
    await cache.aclose()
    assert await client.exists(f"{namespace}:v:k") == 1
    await client.delete(f"{namespace}:v:k")
    await client.aclose()


async def test_redis_store_is_used_with_its_prefix(namespace: str) -> None:
    store = RedisStore(REDIS_URL, prefix=f"{namespace}:store:")
    cache = Cache(redis=store, namespace="ns")
    await cache.get_or_fetch("k", Upstream("v"))
    assert await store.exists("ns:v:k")
    await cache.aclose()
    await store.clear()
    await store.close()


async def test_abandoned_fetch_releases_the_cross_process_lock(
    make_cache: MakeCache, namespace: str
) -> None:
    cache = make_cache()
    upstream = Upstream("v", delay=10)
    task = asyncio.create_task(cache.get_or_fetch("k", upstream))
    await upstream.started.wait()
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await client.exists(f"{namespace}:lock:k") == 1
        task.cancel()  # the only waiter leaves: the flight is cancelled and unlocks
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if not await client.exists(f"{namespace}:lock:k"):
                break
            await asyncio.sleep(0.01)
        assert await client.exists(f"{namespace}:lock:k") == 0
    finally:
        await client.aclose()
