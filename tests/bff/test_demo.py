"""The demo: mock services and the gateway on free loopback ports, over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from scallion.bff.demo import DEMO_GATEWAY, running_demo, tour
from scallion.bff.mocks import Control


def test_examples_gateway_yaml_is_the_demo_gateway() -> None:
    example = Path(__file__).parents[2] / "examples" / "gateway.yaml"
    assert example.read_text(encoding="utf-8") == DEMO_GATEWAY


async def test_demo_dashboard_then_breaker_opens_when_orders_fail() -> None:
    before = set(asyncio.all_tasks())
    async with asyncio.timeout(20):
        async with (
            running_demo(latency=False) as demo,
            httpx.AsyncClient(base_url=demo.url) as client,
        ):
            r = await client.get("/api/dashboard/7")
            assert r.status_code == 200
            assert r.headers["x-scallion-completed"] == "true"
            body = r.json()
            assert body["user"]["id"] == 7 and "internal" not in body["user"]
            assert body["orders"] and body["recommendations"]["items"]
            assert body["missing"] == []

            r = await client.get("/api/dashboard/5000")
            assert r.status_code == 404

            r = await client.get("/api/users/7/first-order")
            assert r.json()["missing"] == [] and r.json()["items"]

            assert (await client.post("/_demo/fail/orders")).status_code == 200
            for _ in range(5):
                r = await client.get("/api/dashboard/7")
                assert r.status_code == 200 and r.json()["missing"] == ["orders"]
                assert r.json()["orders"] == []
            status = (await client.get("/_scallion/status")).json()
            breaker = status["upstreams"]["orders"]["instances"][0]["breaker"]
            assert breaker["state"] == "open"
            assert (await client.post("/_demo/heal/orders")).status_code == 200
            assert (await client.post("/_demo/fail/nope")).status_code == 404
            assert (await client.post("/_demo/slow/users?ms=abc")).status_code == 400

            spec = (await client.get("/openapi.json")).json()
            assert "/api/dashboard/{user_id}" in spec["paths"]
            urls = [s.url for s in demo.services.values()]
    # every server stopped: nothing listens any more, and no task is left behind
    async with httpx.AsyncClient() as client:
        for url in [demo.url, *urls]:
            try:
                await client.get(url, timeout=1)
            except httpx.ConnectError:
                pass
            else:
                raise AssertionError(f"{url} still answers")
    assert set(asyncio.all_tasks()) <= before | {asyncio.current_task()}


async def test_tour_shows_cache_coalescing_and_breaker() -> None:
    lines: list[str] = []
    async with asyncio.timeout(20):
        async with running_demo() as demo:
            await tour(demo, lines.append)
            orders: Control = demo.controls["orders"]
            assert orders.fail_rate == 0.0  # the tour heals what it broke
    assert len(lines) == 4
    assert "X-Scallion-Completed: true" in lines[0]
    assert "X-Cache: MISS, then HIT" in lines[1]
    assert "50 answers, 1 catalog call" in lines[2]
    assert "missing ['orders']" in lines[3] and "OPEN" in lines[3]
