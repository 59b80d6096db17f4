"""The cache's L2 on a real Redis Cluster: records shared between two caches (two
processes' worth of connections), cross-process coalescing, and a ready RedisCluster client.

The HTTP-level herd (two gateways, a real loopback upstream) is in test_gateway_cluster.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from _redis_cluster import ClusterProcesses, command
from redis.asyncio.cluster import ClusterNode, RedisCluster

from scallion.bff.cache import Cache
from scallion.stores.redis import RedisStore

from ._cache_support import Upstream

MakeCache = Callable[..., Cache]


@pytest.fixture
async def make_cache(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> AsyncIterator[MakeCache]:
    made: list[Cache] = []

    def make(**options: Any) -> Cache:
        options.setdefault("redis", redis_cluster.url)
        options.setdefault("namespace", cluster_prefix + "cache")
        cache = Cache(**options)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        await cache.aclose()


async def connected(*caches: Cache) -> None:
    """Load each cache's cluster layout now (as a service does at startup), so the first
    L2 call does not spend its 0.5 s bound on it on a loaded machine."""
    for cache in caches:
        assert cache.l2 is not None and isinstance(cache.l2.store, RedisStore)
        await cache.l2.store.prepare()


async def test_a_value_fetched_by_one_cache_is_a_hit_in_the_other(make_cache: MakeCache) -> None:
    one, two = make_cache(), make_cache()
    await connected(one, two)
    for i in range(20):  # keys on every master
        assert (await one.get_or_fetch(f"user:{i}", Upstream({"id": i}))).status == "miss"
    for i in range(20):
        got = await two.get_or_fetch(f"user:{i}", Upstream())
        assert (got.status, got.value) == ("hit", {"id": i})
    assert two.stats.l2_hits == 20 and two.stats.upstream_calls == 0
    assert one.stats.l2_errors == two.stats.l2_errors == 0
    await one.invalidate("user:3")
    assert (await two.get_or_fetch("user:3", Upstream({"id": 33}))).value == {"id": 3}  # L1
    three = make_cache()
    await connected(three)
    assert (await three.get_or_fetch("user:3", Upstream({"id": 33}))).status == "miss"


async def test_cold_herd_across_two_caches_makes_one_upstream_call(make_cache: MakeCache) -> None:
    one, two = make_cache(), make_cache()
    await connected(one, two)
    upstream = Upstream({"cold": True}, delay=0.05)
    calls = [one.get_or_fetch("cold", upstream) for _ in range(50)]
    calls += [two.get_or_fetch("cold", upstream) for _ in range(50)]
    results = await asyncio.gather(*calls)
    assert upstream.calls == 1
    statuses = [r.status for r in results]
    assert statuses.count("miss") == 1 and statuses.count("coalesced") == 99
    assert one.stats.l2_errors == two.stats.l2_errors == 0


async def test_lock_and_record_keys_with_client_braces_stay_apart(
    redis_cluster: ClusterProcesses, make_cache: MakeCache, cluster_prefix: str
) -> None:
    one, two = make_cache(), make_cache()
    await connected(one, two)
    key = "GET /items/{id}?q={x}"
    await one.get_or_fetch(key, Upstream("v"))
    assert (await two.get_or_fetch(key, Upstream())).status == "hit"
    store = one.l2.store if one.l2 is not None else None
    assert isinstance(store, RedisStore)
    name = store.name(f"{cluster_prefix}cache:v:{key}")
    assert name == f"{cluster_prefix}cache:v:GET /items/{{}}id}}?q={{x}}"
    slot = int(command(redis_cluster.ports[0], "CLUSTER", "KEYSLOT", name))
    assert slot != int(command(redis_cluster.ports[0], "CLUSTER", "KEYSLOT", "id"))


async def test_a_ready_cluster_client_works_and_stays_open(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> None:
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", redis_cluster.ports[2])])
    namespace = cluster_prefix + "given"
    one, two = Cache(redis=client, namespace=namespace), Cache(redis=client, namespace=namespace)
    await one.get_or_fetch("k", Upstream("v"))
    assert (await two.get_or_fetch("k", Upstream())).status == "hit"
    await one.aclose()
    await two.aclose()
    assert await client.exists(f"{namespace}:v:k") == 1  # the client is ours to close
    await client.aclose()


async def test_an_unreachable_cluster_degrades_to_l1(make_cache: MakeCache) -> None:
    from _redis_cluster import free_cluster_ports

    port = free_cluster_ports(1)[0]
    cache = make_cache(redis=f"redis+cluster://127.0.0.1:{port}", l2_timeout=0.3)
    upstream = Upstream("v")
    assert (await cache.get_or_fetch("k", upstream)).status == "miss"
    assert (await cache.get_or_fetch("k", upstream)).status == "hit"
    assert upstream.calls == 1 and cache.stats.l2_outages == 1
