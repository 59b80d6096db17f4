"""Observability on a compiled gateway over real loopback services: the demo's view.

A gateway is compiled onto an ``App`` that already has ``metrics()`` and
``status_page()``; the users and orders mock services run on uvicorn. Then orders fails:
the dashboard data and the Prometheus scrape show the aggregation counted by route, the
cache and coalescing counters, and the orders breaker opening.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scallion import App
from scallion.bff.gateway import load_config
from scallion.bff.gateway.compile import compile_gateway
from scallion.bff.mocks import orders_app, serve_app, users_app
from scallion.observability import bff_metrics, metrics, status_page
from scallion.testing import AsyncTestClient

from .test_metrics import value

GATEWAY = """\
upstreams:
  users: {url: "${USERS_URL}", timeout: 1, retry: false}
  orders:
    url: "${ORDERS_URL}"
    timeout: 1
    retry: false
    breaker: {failure_rate: 0.5, minimum_calls: 4, window: 10, wait: 30, half_open_calls: 1}
endpoints:
  - path: /page/:user_id
    backends:
      - {upstream: users, path: "/users/{user_id}", group: user, required: true}
      - {upstream: orders, path: "/orders?user={user_id}", group: orders, fallback: []}
  - path: /cached/:user_id
    cache: {ttl: 30}
    backends:
      - {upstream: users, path: "/users/{user_id}", group: user}
"""


@pytest.fixture
async def urls() -> AsyncIterator[dict[str, str]]:
    servers = await asyncio.gather(serve_app(users_app()), serve_app(orders_app()))
    try:
        yield {"USERS_URL": servers[0].url, "ORDERS_URL": servers[1].url}
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


@pytest.mark.timeout(60)
async def test_dashboard_and_metrics_follow_the_gateway(
    tmp_path: Path, urls: dict[str, str]
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(GATEWAY))
    config = load_config(path, env=urls)
    m = metrics()
    app = App()
    app.use(m, status_page())  # no sources given: it finds the gateway's at each poll
    gateway = compile_gateway(config, app=app)
    bff_metrics(m.registry, upstreams=gateway.upstreams, caches={"gateway": gateway.cache})
    orders = gateway.upstreams.get("orders")
    async with AsyncTestClient(app) as client:
        r = await client.get("/page/7")
        assert r.status_code == 200 and r.json()["missing"] == []
        # ten identical concurrent misses: one upstream call, the rest coalesced or hits
        got = await asyncio.gather(*(client.get("/cached/7") for _ in range(10)))
        assert all(g.status_code == 200 for g in got)

        s = (await client.get("/_scallion/status.json")).json()
        assert set(s["upstreams"]) == {"users", "orders"}
        assert s["upstreams"]["orders"]["instances"][0]["breaker"]["state"] == "closed"
        stats = s["caches"]["gateway"]
        assert stats["misses"] >= 1 and stats["hits"] + stats["coalesced"] + stats["misses"] >= 10

        # orders starts failing: the page degrades and the breaker opens
        await client_post_control(urls["ORDERS_URL"], fail_rate=1.0)
        for _ in range(4):
            r = await client.get("/page/7")
            assert r.status_code == 200 and r.json()["missing"] == ["orders"]
        s = (await client.get("/_scallion/status.json")).json()
        breaker = s["upstreams"]["orders"]["instances"][0]["breaker"]
        assert breaker["state"] == "open" and breaker["retry_after"] > 0
        assert s["requests"]["last_minute"] >= 15

        text = (await client.get("/metrics")).text
        who = {"upstream": "orders", "instance": orders.instances[0].label}
        assert value(text, "scallion_breaker_state", **who) == 2
        assert value(text, "scallion_breaker_transitions_total", **who,
                     **{"from": "closed", "to": "open"}) == 1  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET",
                     route="/page/:user_id", status="200") == 5  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET",
                     route="/cached/:user_id", status="200") == 10  # fmt: skip
        misses = value(text, "scallion_cache_misses_total", cache="gateway")
        assert misses is not None and misses >= 1
        # one success and three failures opened it (4 calls, half failed); the fourth
        # failing page was refused without a call
        assert value(text, "scallion_upstream_calls_total", **who) == 4
        assert value(text, "scallion_breaker_rejected_total", **who) == 1


async def client_post_control(url: str, **settings: float) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        r = await client.post(f"{url}/_control", json=settings)
        assert r.status_code == 200, r.text
