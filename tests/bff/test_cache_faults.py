"""Redis faults: unreachable at start, going away mid-run and coming back, a dead lock holder.

The mid-run test starts its own throwaway redis-server on a free port and kills it by PID.
"""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from scallion.bff.cache import Cache

from ._cache_support import (  # noqa: F401
    DEAD_REDIS,
    REDIS_URL,
    RedisServer,
    Upstream,
    make_cache,
    namespace,
    redis_server,
)

MakeCache = Callable[..., Cache]


async def test_unreachable_redis_at_start_degrades_to_l1(caplog: pytest.LogCaptureFixture) -> None:
    cache = Cache(redis=DEAD_REDIS, l2_retry_after=60)
    upstream = Upstream({"ok": True})
    with caplog.at_level(logging.WARNING, "scallion.bff.cache"):
        first = await cache.get_or_fetch("k", upstream)
        results = [await cache.get_or_fetch(f"k{i}", upstream) for i in range(20)]
        again = await cache.get_or_fetch("k", upstream)
    assert (first.status, first.value) == ("miss", {"ok": True})
    assert {r.status for r in results} == {"miss"}
    assert again.status == "hit"  # L1 still works
    assert cache.stats.l2_outages == 1
    assert cache.stats.l2_errors == 1  # one attempt, then no round trips while backing off
    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_logs) == 1
    await cache.aclose()


async def test_unreachable_redis_with_a_herd_still_coalesces() -> None:
    cache = Cache(redis=DEAD_REDIS)
    upstream = Upstream("v", delay=0.02)
    results = await asyncio.gather(*(cache.get_or_fetch("k", upstream) for _ in range(100)))
    assert upstream.calls == 1 and len(results) == 100
    await cache.aclose()


async def test_redis_going_away_and_coming_back(redis_server: RedisServer) -> None:
    cache = Cache(redis=redis_server.url, l2_retry_after=0.1, l2_timeout=0.3)
    upstream = Upstream("v")
    await cache.get_or_fetch("before", upstream)
    assert cache.stats.l2_errors == 0

    redis_server.stop()
    started = time.monotonic()
    for i in range(30):
        result = await cache.get_or_fetch(f"during{i}", upstream)
        assert result.value == "v"
    assert (await cache.get_or_fetch("before", upstream)).status == "hit"
    assert time.monotonic() - started < 2  # no request waited on the dead Redis for long
    assert cache.stats.l2_outages == 1
    errors_while_down = cache.stats.l2_errors
    assert 1 <= errors_while_down <= 3

    redis_server.start()
    await asyncio.sleep(0.25)  # past the backoff: the next request tries Redis again
    for i in range(5):
        await cache.get_or_fetch(f"after{i}", upstream)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        stored = [await client.exists(f"{cache.namespace}:v:after{i}") for i in range(5)]
    finally:
        await client.aclose()
    assert stored.count(1) >= 4  # L2 writes resumed
    reader = Cache(redis=redis_server.url)
    assert (await reader.get_or_fetch("after4", Upstream())).status == "hit"
    await reader.aclose()
    await cache.aclose()


async def test_backoff_grows_while_redis_stays_down() -> None:
    cache = Cache(redis=DEAD_REDIS, l2_retry_after=0.05)
    upstream = Upstream("v")
    deadline = time.monotonic() + 0.5
    requests = 0
    while time.monotonic() < deadline:
        await cache.get_or_fetch(f"k{requests}", upstream)
        requests += 1
        await asyncio.sleep(0.005)
    # retries at ~0.05, 0.15, 0.35 s: a handful of attempts, not one per request
    assert requests > 40
    assert 2 <= cache.stats.l2_errors <= 6
    assert cache.stats.l2_outages == 1
    await cache.aclose()


async def test_dead_lock_holder_costs_a_wait_not_a_deadlock(
    make_cache: MakeCache, namespace: str
) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.set(f"{namespace}:lock:k", "crashed-holder", px=300)  # its TTL runs out
    await client.aclose()
    cache = make_cache(lock_wait=5)
    upstream = Upstream("v")
    started = time.monotonic()
    result = await cache.get_or_fetch("k", upstream)
    waited = time.monotonic() - started
    assert (result.status, upstream.calls) == ("miss", 1)
    assert 0.2 < waited < 1.5


async def test_lock_wait_bounds_the_wait_for_a_slow_holder(
    make_cache: MakeCache, namespace: str
) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    await client.set(f"{namespace}:lock:k", "slow-holder", px=10_000)
    await client.aclose()
    cache = make_cache(lock_wait=0.1)
    started = time.monotonic()
    result = await cache.get_or_fetch("k", Upstream("v"))
    assert result.status == "miss" and time.monotonic() - started < 1
