"""Two declarative gateways sharing state through a real Redis Cluster (``redis:
redis+cluster://...``), over real loopback upstreams: HTTP in, HTTP out.

Two gateways built from one file stand in for two machines: each has its own clients,
caches and breakers, and agrees with the other only through the cluster.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from _redis_cluster import ClusterProcesses
from redis.asyncio.cluster import RedisCluster

from scallion.bff.gateway import build_gateway
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient

from ._gateway_support import Services, services_fixture  # noqa: F401


@pytest.fixture
async def fleet_state(redis_cluster: ClusterProcesses) -> AsyncIterator[str]:
    """The cluster URL; the gateway's fixed key prefixes are swept after each test."""
    yield redis_cluster.url
    sweeper = RedisStore(redis_cluster.url, prefix="scallion:")
    await sweeper.clear()
    await sweeper.close()


@asynccontextmanager
async def two_gateways(
    tmp_path: Path, text: str, services: Services, redis_url: str
) -> AsyncIterator[tuple[AsyncTestClient, AsyncTestClient]]:
    path = tmp_path / "gateway.yaml"
    path.write_text(f"redis: '{redis_url}'\n" + textwrap.dedent(text))
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            gateway = build_gateway(path, env=services.env)
            clients.append(await stack.enter_async_context(AsyncTestClient(gateway.app)))
        yield clients[0], clients[1]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


async def test_the_gateway_connects_its_cluster_stores_at_startup(
    tmp_path: Path, services: Services, fleet_state: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"redis: '{fleet_state}'\n"
        "upstreams: {users: {url: '${USERS_URL}'}}\n"
        "endpoints:\n"
        "  - {path: /me, rate_limit: {limit: 5, window: 1}, cache: {ttl: 5},\n"
        "     backends: [{upstream: users, path: /users/1}]}\n"
    )
    gateway = build_gateway(path, env=services.env)
    assert gateway.cache.l2 is not None
    store = gateway.cache.l2.store
    assert isinstance(store, RedisStore) and store.cluster
    client = store.client
    assert isinstance(client, RedisCluster) and client.get_default_node() is None
    async with AsyncTestClient(gateway.app) as c:
        assert client.get_default_node() is not None  # the slot map is loaded already
        assert (await c.get("/me")).status_code == 200
    assert "unreachable" not in caplog.text


async def test_a_cold_herd_on_two_gateways_makes_one_upstream_call(
    tmp_path: Path, services: Services, fleet_state: str
) -> None:
    text = """\
    upstreams:
      catalog: {url: "${CATALOG_URL}", retry: false}
    endpoints:
      - path: /products
        cache: {ttl: 30}
        backends:
          - {upstream: catalog, path: /products, collection: products}
    """
    services.controls["catalog"].latency_ms = 150
    async with two_gateways(tmp_path, text, services, fleet_state) as (one, two):
        calls = [client.get("/products") for client in (one, two) for _ in range(25)]
        answers = await asyncio.gather(*calls)
        assert statuses(answers) == [200] * 50
        assert {len(r.json()["products"]) for r in answers} == {8}
        assert services.controls["catalog"].calls["/products"] == 1
        assert (await two.get("/products")).headers["x-cache"] == "HIT"


async def test_a_rate_limit_holds_across_two_gateways(
    tmp_path: Path, services: Services, fleet_state: str
) -> None:
    text = """\
    upstreams:
      users: {url: "${USERS_URL}", retry: false}
    endpoints:
      - path: /me
        rate_limit: {limit: 7, window: 60, key: route}
        backends:
          - {upstream: users, path: /users/1, group: user}
    """
    async with two_gateways(tmp_path, text, services, fleet_state) as (one, two):
        calls = [one.get("/me") for _ in range(15)] + [two.get("/me") for _ in range(15)]
        answers = await asyncio.gather(*calls)
        assert statuses(answers).count(200) == 7
        assert statuses(answers).count(429) == 23
        refused = next(r for r in answers if r.status_code == 429)
        assert int(refused.headers["retry-after"]) >= 1


async def test_a_breaker_opened_by_one_gateway_stops_the_other(
    tmp_path: Path, services: Services, fleet_state: str
) -> None:
    text = """\
    upstreams:
      users: {url: "${USERS_URL}", retry: false}
      orders:
        url: "${ORDERS_URL}"
        retry: false
        breaker: {failure_rate: 0.5, minimum_calls: 4, window: 4, wait: 30, half_open_calls: 1}
    status: true
    endpoints:
      - path: /page
        backends:
          - {upstream: users, path: /users/2, group: user}
          - {upstream: orders, path: '/orders?user=2', group: orders, fallback: []}
    """
    orders = services.controls["orders"]

    async def state(client: AsyncTestClient) -> str:
        r = await client.get("/_scallion/status")
        return str(r.json()["upstreams"]["orders"]["instances"][0]["breaker"]["state"])

    async with two_gateways(tmp_path, text, services, fleet_state) as (one, two):
        assert await state(two) == "closed"
        orders.fail_rate = 1.0
        for _ in range(4):
            assert (await one.get("/page")).json()["missing"] == ["orders"]
        assert await state(one) == "open"
        orders.fail_rate = 0.0  # healthy again: the other gateway cannot open on its own
        # It has seen no failure; it learns OPEN from the cluster within its sync
        # interval (0.2 s) and from then on sends the upstream nothing for the wait.
        for _ in range(50):
            await two.get("/page")
            if await state(two) == "open":
                break
            await asyncio.sleep(0.05)
        assert await state(two) == "open"
        calls = orders.calls["/orders"]
        for _ in range(5):
            r = await two.get("/page")
            assert r.status_code == 200 and r.json()["missing"] == ["orders"]
            assert r.json()["user"]["id"] == 2
        assert orders.calls["/orders"] == calls
