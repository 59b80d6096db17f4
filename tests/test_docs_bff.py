"""docs/bff.md stays true: every self-contained python block runs on its own, and what the
text says the examples answer is what they answer (mock services on loopback, Redis from
SCALLION_TEST_REDIS)."""

from __future__ import annotations

import os
from contextlib import AsyncExitStack

import pytest
from _docs_helpers import DOCS, Block, block_at, run_block, runnable

from scallion.bff.mocks import mock_services, serve_app
from scallion.testing import AsyncTestClient

DOC = "bff.md"
REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _redis_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)


def test_the_page_has_its_sections_and_no_stale_links() -> None:
    text = (DOCS / DOC).read_text(encoding="utf-8")
    for heading in (
        "## Upstreams and transports",
        "## Deadlines: `X-Request-Deadline`",
        "## `ctx.bff`: the request facade",
        "## Aggregation: `gather`, `Part`, `Step`",
        "## Caching: `Cache` and `response_cache`",
        "## Circuit breaker",
        "## Retries and the retry budget",
        "## Stores",
        "## Errors",
    ):
        assert heading in text
    for gone in ("bff-upstream.md", "bff-cache.md", "bff-resilience.md"):
        assert gone not in text
        assert not (DOCS / gone).exists()
    assert len(runnable(DOC)) >= 15


@pytest.mark.parametrize("block", runnable(DOC), ids=lambda b: b.id)
async def test_block_runs(block: Block) -> None:
    await run_block(block)


async def test_quick_start_over_the_mock_services(monkeypatch: pytest.MonkeyPatch) -> None:
    async with AsyncExitStack() as stack:
        servers = {}
        for name, app in mock_services().items():
            server = await serve_app(app)
            stack.push_async_callback(server.stop)
            servers[name] = server
            monkeypatch.setenv(f"{name.upper()}_URL", server.url)
        ns = await run_block(block_at(DOC, '@router.get("/api/dashboard/:id")'))
        async with AsyncTestClient(ns["app"]) as client:
            r = await client.get("/api/dashboard/7")
            assert r.status_code == 200
            body = r.json()
            assert body["user"]["id"] == 7 and body["missing"] == []
            assert body["recs"]["user_id"] == 7 and body["orders"][0]["user_id"] == 7
            assert r.headers["x-scallion-completed"] == "true"

            await servers["orders"].stop()
            r = await client.get("/api/dashboard/7")
            assert r.status_code == 200
            body = r.json()
            assert (body["orders"], body["missing"]) == ([], ["orders"])
            assert r.headers["x-scallion-completed"] == "false"
            assert r.headers["cache-control"] == "no-store"

            await servers["users"].stop()
            assert (await client.get("/api/dashboard/7")).status_code == 503


async def test_gather_example() -> None:
    ns = await run_block(block_at(DOC, "got = await gather("))
    got = ns["got"]
    assert got.missing == ["ads"] and got.fallbacks == ["ads"]
    assert list(got.values) == ["user", "recs", "ads", "orders", "firsts"]
    assert got["ads"] == [] and got["user"]["id"] == 7
    assert [item["sku"] for item in got["firsts"]] == [o["items"][0] for o in got["orders"]]
    for name in ("users", "orders", "catalog", "ads"):
        await ns[name].aclose()


async def test_cache_example_coalesces() -> None:
    ns = await run_block(block_at(DOC, "async def fetch_user() -> CacheEntry"))
    assert ns["calls"] == 1
    assert ns["result"].value == {"id": 7, "name": "Ada"}
    assert {r.status for r in ns["results"]} == {"miss", "coalesced"}


async def test_freshness_example() -> None:
    ns = await run_block(block_at(DOC, "from scallion.bff.cache_policy import freshness"))
    assert 59 <= ns["by_expires"].fresh <= 60 and ns["by_expires"][1:] == (0.0, 0.0)
    assert ns["aged"] == (15.0, 0.0, 0.0)
    assert ns["max_age_wins"].fresh == 30.0
    assert ns["expired"] == (0.0, 0.0, 0.0) and ns["expired"].keep == 0.0
    assert ns["shared"] == (10.0, 0.0, 0.0)
    assert ns["private"] is None
    assert ns["contradiction"].fresh == 0.0


async def test_response_cache_example() -> None:
    ns = await run_block(block_at(DOC, "app.use(response_cache("))
    async with AsyncTestClient(ns["app"]) as client:
        first = await client.get("/greeting", headers={"accept-language": "fr"})
        second = await client.get("/greeting", headers={"accept-language": "fr"})
        other = await client.get("/greeting", headers={"accept-language": "de"})
    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.json() == {"hello": "fr"} and other.headers["x-cache"] == "MISS"


async def test_breaker_and_retry_examples() -> None:
    ns = await run_block(block_at(DOC, "half_open_concurrency=2,"))
    assert ns["user"] == {"id": 7} and ns["orders"] == []
    assert ns["breaker"].metrics().calls == 3
    ns = await run_block(block_at(DOC, "result = await policy.run(fetch"))
    assert ns["result"] == "ok"


async def test_errors_example() -> None:
    ns = await run_block(block_at(DOC, "passed = UpstreamStatusError("))
    passed = ns["passed"]
    assert (passed.status, passed.upstream_status) == (404, 404)
    assert passed.message == "upstream 'users' answered 404"
    assert str(ns["bad"].request) == "GET http://users.internal/users/7?token=REDACTED"
    assert ns["bad"].status == 502


async def test_mock_services_example() -> None:
    ns = await run_block(block_at(DOC, "async with served(users) as url:"))
    assert ns["user"]["id"] == 7
    assert (ns["failed"], ns["calls"]) == (503, 2)
