"""ctx.bff: the bff() middleware, bound upstreams, cached_json, gather under the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scallion import App, Router
from scallion.bff import (
    Cache,
    Part,
    Upstream,
    Upstreams,
    UpstreamStatusError,
    bff,
    bff_of,
)
from scallion.testing import AsyncTestClient

from ._loopback import LoopbackServer


@pytest.fixture(name="raw")
async def raw_fixture() -> AsyncIterator[LoopbackServer]:
    server = await LoopbackServer("raw").start()
    try:
        yield server
    finally:
        await server.close()


def make_app(raw: LoopbackServer, cache: Cache | None = None, budget: float | None = None) -> App:
    app = App()
    upstreams = Upstreams(Upstream("raw", raw.url, timeout=2.0))
    app.use(bff(upstreams, cache=cache, budget=budget, app=app))
    router = Router()

    @router.get("/echo")
    async def echo(ctx: Any) -> None:
        ctx.body = await ctx.bff.upstream("raw").get_json("/echo")

    @router.get("/page")
    async def page(ctx: Any) -> None:
        raw_up = bff_of(ctx).upstream("raw")
        got = await ctx.bff.gather(
            fast=raw_up.get_json("/ok"),
            slow=Part(raw_up.get_json("/slow?ms=3000"), fallback={"late": True}),
            deadline=2.0,
        )
        got.to_response(ctx)

    @router.get("/cached")
    async def cached(ctx: Any) -> None:
        got = await ctx.bff.gather(data=ctx.bff.upstream("raw").cached_json("/ok", ttl=30))
        got.to_response(ctx)

    @router.get("/two-calls")
    async def two_calls(ctx: Any) -> None:
        # The first call finds no deadline; a deadline (and a request id) set afterwards
        # must still reach the second: nothing about them is cached from the first call.
        raw_up = ctx.bff.upstream("raw")
        first = await raw_up.get_json("/echo")
        ctx.state.deadline = time.monotonic() + 0.5
        ctx.state.request_id = "later"
        second = await raw_up.get_json("/echo")
        ctx.body = {"first": first["headers"], "second": second["headers"]}

    @router.get("/missing-upstream")
    async def missing(ctx: Any) -> None:
        ctx.bff.upstream("nope")

    app.use(router.routes())
    return app


async def test_calls_carry_the_request_headers_and_deadline(raw: LoopbackServer) -> None:
    async with AsyncTestClient(make_app(raw, budget=1.0)) as client:
        r = await client.get("/echo", headers={"x-request-id": "abc", "traceparent": "00-x"})
    sent = r.json()["headers"]
    assert sent["x-request-id"] == "abc" and sent["traceparent"] == "00-x"
    assert 800 <= int(sent["x-request-deadline"]) <= 1000


async def test_a_deadline_set_between_calls_reaches_the_next_call(raw: LoopbackServer) -> None:
    async with AsyncTestClient(make_app(raw)) as client:
        r = await client.get("/two-calls", headers={"traceparent": "00-t"})
        again = await client.get("/two-calls")
    first, second = r.json()["first"], r.json()["second"]
    assert "x-request-deadline" not in first and "x-request-id" not in first
    assert 300 <= int(second["x-request-deadline"]) <= 500
    assert second["x-request-id"] == "later"
    assert first["traceparent"] == second["traceparent"] == "00-t"
    assert "traceparent" not in again.json()["first"]  # nothing leaks between requests


async def test_gather_is_cut_by_the_callers_deadline(raw: LoopbackServer) -> None:
    before = set(asyncio.all_tasks())
    async with AsyncTestClient(make_app(raw)) as client:
        started = time.monotonic()
        r = await client.get("/page", headers={"x-request-deadline": "200"})
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert r.headers["x-scallion-completed"] == "false"
    assert r.json() == {
        "fast": {"ok": True, "server": "raw"},
        "slow": {"late": True},
        "missing": ["slow"],
    }
    left = set(asyncio.all_tasks()) - before - {asyncio.current_task()}
    # only the loopback server's own connection handlers may remain
    assert all("LoopbackServer" in repr(t.get_coro()) for t in left), left


async def test_cached_json_hits_and_serves_stale_on_error(raw: LoopbackServer) -> None:
    clock = [1000.0]
    cache = Cache(default_ttl=5, stale_ttl=60, clock=lambda: clock[0])
    async with AsyncTestClient(make_app(raw, cache=cache)) as client:
        for _ in range(3):
            r = await client.get("/cached")
            assert r.json() == {"data": {"ok": True, "server": "raw"}, "missing": []}
        assert raw.hits["/ok"] == 1
        clock[0] += 40  # past the 30 s ttl: stale now; the upstream starts failing
        raw.fail_status = 503
        r = await client.get("/cached")
    assert r.json()["stale"] == ["data"] and r.json()["data"]["ok"] is True
    assert r.headers["x-scallion-completed"] == "true"


async def test_unknown_upstream_and_missing_middleware(raw: LoopbackServer) -> None:
    async with AsyncTestClient(make_app(raw)) as client:
        r = await client.get("/missing-upstream")
    assert r.status_code == 500
    app = App()

    async def handler(ctx: Any) -> None:
        bff_of(ctx)

    app.use(handler)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).status_code == 500


async def test_get_json_raises_on_4xx(raw: LoopbackServer) -> None:
    upstream = Upstream("raw", raw.url)
    app = App()
    app.use(bff([upstream], app=app))

    async def handler(ctx: Any) -> None:
        try:
            await ctx.bff.upstream("raw").get_json("/status/404")
        except UpstreamStatusError as exc:
            ctx.body = {"status": exc.upstream_status}

    app.use(handler)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).json() == {"status": 404}


def cached_app(
    raw: LoopbackServer, cache: Cache, path: str = "/ok", **options: Any
) -> tuple[App, Upstream]:
    """``GET /c`` answers ``path`` through ``cached_json(**options)`` with X-Cache set."""
    propagate = ("x-request-id", "authorization", "cookie", "accept-language")
    upstream = Upstream("raw", raw.url, timeout=2.0, propagate_headers=propagate)
    app = App()
    app.use(bff([upstream], cache=cache, app=app))

    async def handler(ctx: Any) -> None:
        result = await ctx.bff.upstream("raw").cached_json(path, **options)
        ctx.set("x-cache", result.status)
        ctx.body = result.value

    app.use(handler)
    return app, upstream


async def test_cached_json_never_shares_the_clients_credentials(raw: LoopbackServer) -> None:
    app, _ = cached_app(raw, Cache(), ttl=30)
    async with AsyncTestClient(app) as client:
        for who in ("Bearer a", "Bearer a", "Bearer b"):
            r = await client.get("/c", headers={"authorization": who})
            assert r.headers["x-cache"] == "miss"
        r = await client.get("/c", headers={"cookie": "sid=1"})
        assert r.headers["x-cache"] == "miss"
        assert [(await client.get("/c")).headers["x-cache"] for _ in range(2)] == ["miss", "hit"]
    assert raw.hits["/ok"] == 5


async def test_cached_json_keys_on_credentials_it_varies_on(raw: LoopbackServer) -> None:
    app, _ = cached_app(raw, Cache(), ttl=30, vary=("Authorization",))
    async with AsyncTestClient(app) as client:
        marks = [
            (await client.get("/c", headers={"authorization": who})).headers["x-cache"]
            for who in ("Bearer a", "Bearer a", "Bearer b", "Bearer b")
        ]
    assert marks == ["miss", "hit", "miss", "hit"]
    assert raw.hits["/ok"] == 2


@pytest.mark.parametrize(
    ("vary_header", "vary", "expected"),
    [
        ("accept-language", (), ["miss", "miss", "miss"]),  # per client, not in the key
        ("Accept-Language", ("accept-language",), ["miss", "hit", "miss"]),
        ("accept-encoding", (), ["miss", "hit", "hit"]),  # not a header copied from clients
        ("*", ("accept-language",), ["miss", "miss", "miss"]),
    ],
)
async def test_cached_json_obeys_the_upstreams_vary(
    raw: LoopbackServer, vary_header: str, vary: tuple[str, ...], expected: list[str]
) -> None:
    raw.response_headers["/ok"] = [("vary", vary_header)]
    app, _ = cached_app(raw, Cache(), ttl=30, vary=vary)
    async with AsyncTestClient(app) as client:
        marks = [
            (await client.get("/c", headers={"accept-language": lang})).headers["x-cache"]
            for lang in ("en", "en", "fr")
        ]
    assert marks == expected


async def test_background_refresh_is_not_cut_by_the_requests_deadline(
    raw: LoopbackServer,
) -> None:
    clock = [1000.0]
    cache = Cache(clock=lambda: clock[0])
    app, _ = cached_app(raw, cache, "/slow?ms=300", ttl=5, stale_while_revalidate=60)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/c")).headers["x-cache"] == "miss"
        clock[0] += 10  # stale, inside stale-while-revalidate
        r = await client.get("/c", headers={"x-request-deadline": "100", "x-request-id": "r2"})
        assert r.headers["x-cache"] == "stale"
        for _ in range(100):  # the refresh takes 300 ms, three times what the request had
            if raw.hits["/slow"] == 2 and not cache._refreshes:
                break
            await asyncio.sleep(0.02)
        assert cache.stats.refreshes == 1 and cache.stats.refresh_errors == 0
        assert (await client.get("/c")).headers["x-cache"] == "hit"
    refresh = raw.requests[-1]["headers"]
    assert isinstance(refresh, dict)
    assert refresh["x-request-id"] == "r2" and "x-request-deadline" not in refresh
    assert raw.hits["/slow"] == 2
