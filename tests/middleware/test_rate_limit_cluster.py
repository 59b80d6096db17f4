"""rate_limit on a real Redis Cluster, over HTTP: two app instances (two clients, two
connection pools: like two workers) share one exact limit."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from _redis_cluster import ClusterProcesses

from scallion.middleware import rate_limit
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient

from ._helpers_a import app_with

KEYS = ["cluster-test-key-0123456789abcdef"]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


# -- rate_limit ---------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sliding-window", "gcra"])
async def test_two_apps_share_one_exact_limit_on_the_cluster(
    redis_cluster: ClusterProcesses, cluster_prefix: str, algorithm: str
) -> None:
    stores = [RedisStore(redis_cluster.url, prefix=cluster_prefix) for _ in range(2)]
    apps = [app_with(rate_limit(25, 60, algorithm=algorithm, store=s)) for s in stores]
    try:
        async with AsyncTestClient(apps[0]) as one, AsyncTestClient(apps[1]) as two:
            calls = [one.get("/") for _ in range(60)] + [two.get("/") for _ in range(60)]
            responses = await asyncio.gather(*calls)
            assert statuses(responses).count(200) == 25
            assert statuses(responses).count(429) == 95
            assert (await one.get("/")).status_code == 429
            assert (await two.get("/")).status_code == 429
            refused = next(r for r in responses if r.status_code == 429)
            assert int(refused.headers["retry-after"]) >= 1
    finally:
        for s in stores:
            await s.close()


async def test_clients_choosing_braces_in_their_key_are_counted_apart(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> None:
    store = RedisStore(redis_cluster.url, prefix=cluster_prefix)
    limiter = rate_limit(1, 60, key=lambda ctx: ctx.get("x-user") or "anon", store=store)
    try:
        async with AsyncTestClient(app_with(limiter)) as c:
            users = ["{a}", "x{a}", "{a}y", "{}a", "a"]
            first = [await c.get("/", headers={"x-user": u}) for u in users]
            again = [await c.get("/", headers={"x-user": u}) for u in users]
        assert statuses(first) == [200] * 5 and statuses(again) == [429] * 5
    finally:
        await store.close()


async def test_rate_limit_by_cluster_url(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> None:
    limiter = rate_limit(2, 30, store="redis", redis_url=redis_cluster.url, prefix=cluster_prefix)
    assert isinstance(limiter.store, RedisStore) and limiter.store.cluster
    try:
        async with AsyncTestClient(app_with(limiter)) as c:
            assert statuses([await c.get("/") for _ in range(3)]) == [200, 200, 429]
    finally:
        await limiter.store.clear()
        await limiter.store.close()
