"""Expires, Date and Age over HTTP: a real loopback upstream, ``cached_json`` and
``response_cache`` in front of it, counting the upstream's calls.

The caches run on a fake monotonic clock (TTLs) and the real wall clock (``Expires`` and
``Date`` are wall-clock times), so freshness is moved forward without sleeping.
"""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import pytest

from scallion import App, Router
from scallion.bff import Cache, Upstream, Upstreams, bff, response_cache
from scallion.context import Context
from scallion.testing import AsyncTestClient

from ._cache_support import FakeClock, clock  # noqa: F401
from ._loopback import LoopbackServer


def http_date(offset: float) -> str:
    """An HTTP-date ``offset`` seconds from now on the real wall clock."""
    return formatdate(time.time() + offset, usegmt=True)


@pytest.fixture(name="raw")
async def raw_fixture() -> AsyncIterator[LoopbackServer]:
    server = await LoopbackServer("raw").start()
    try:
        yield server
    finally:
        await server.close()


def upstream_app(raw: LoopbackServer, cache: Cache) -> App:
    """``GET /cached`` answers the upstream's ``/ok`` through ``cached_json``."""
    app = App()
    app.use(bff(Upstreams(Upstream("raw", raw.url, timeout=2.0)), cache=cache, app=app))
    router = Router()

    @router.get("/cached")
    async def cached(ctx: Any) -> None:
        result = await ctx.bff.upstream("raw").cached_json("/ok", ttl=300)
        ctx.set("x-cache", result.status)
        ctx.body = result.value

    app.use(router.routes())
    return app


async def statuses(client: AsyncTestClient, times: int = 3) -> list[str]:
    out = []
    for _ in range(times):
        r = await client.get("/cached")
        assert r.status_code == 200 and r.json()["ok"] is True
        out.append(r.headers["x-cache"])
    return out


async def test_fresh_expires_is_a_hit_without_a_second_call(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.response_headers["/ok"] = [("expires", http_date(60))]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "hit", "hit"]
        assert raw.hits["/ok"] == 1
        clock.advance(55)  # Expires is ~60 s away (the header counts whole seconds)
        assert await statuses(client, 1) == ["hit"]
        clock.advance(6)  # past Expires; without it, ttl=300 would still be fresh
        assert await statuses(client, 2) == ["miss", "hit"]
    assert raw.hits["/ok"] == 2


async def test_expires_counts_from_the_date_header(raw: LoopbackServer, clock: FakeClock) -> None:
    # Expires 30 s after Date, whatever the upstream's clock says the time is now.
    raw.response_headers["/ok"] = [("date", http_date(-3600)), ("expires", http_date(-3570))]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "hit", "hit"]
        clock.advance(29)
        assert await statuses(client, 1) == ["hit"]
        clock.advance(2)
        assert await statuses(client, 1) == ["miss"]
    assert raw.hits["/ok"] == 2


@pytest.mark.parametrize(
    "expires",
    [
        http_date(-60),  # in the past
        "0",
        "-1",
        "garbage",
        "Sun, 31 Feb 2099 08:49:37 GMT",  # no such day
        "",
    ],
)
async def test_past_or_invalid_expires_misses_every_time(
    raw: LoopbackServer, clock: FakeClock, expires: str
) -> None:
    raw.response_headers["/ok"] = [("expires", expires)]
    # stale_ttl would keep a fresh answer around; an answer stale on arrival gets none of it
    cache = Cache(clock=clock, stale_ttl=600)
    async with AsyncTestClient(upstream_app(raw, cache)) as client:
        assert await statuses(client) == ["miss", "miss", "miss"]
    assert raw.hits["/ok"] == 3


async def test_max_age_wins_over_an_invalid_expires(raw: LoopbackServer, clock: FakeClock) -> None:
    raw.response_headers["/ok"] = [("cache-control", "max-age=30"), ("expires", "0")]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "hit", "hit"]
    assert raw.hits["/ok"] == 1


async def test_age_shortens_max_age(raw: LoopbackServer, clock: FakeClock) -> None:
    raw.response_headers["/ok"] = [("cache-control", "max-age=60"), ("age", "50")]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client, 2) == ["miss", "hit"]
        clock.advance(9)
        assert await statuses(client, 1) == ["hit"]
        clock.advance(2)  # 11 s here + 50 s upstream: past max-age=60
        assert await statuses(client, 2) == ["miss", "hit"]
    assert raw.hits["/ok"] == 2


async def test_age_shortens_expires(raw: LoopbackServer, clock: FakeClock) -> None:
    now = time.time()
    raw.response_headers["/ok"] = [
        ("date", formatdate(now, usegmt=True)),
        ("expires", formatdate(now + 60, usegmt=True)),
        ("age", "45"),
    ]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client, 2) == ["miss", "hit"]
        clock.advance(16)
        assert await statuses(client, 1) == ["miss"]
    assert raw.hits["/ok"] == 2


@pytest.mark.parametrize("age", ["60", "61", "soon", "-1", "99999999999999"])
async def test_age_past_the_lifetime_or_unreadable_is_stale(
    raw: LoopbackServer, clock: FakeClock, age: str
) -> None:
    raw.response_headers["/ok"] = [("cache-control", "max-age=60"), ("age", age)]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "miss", "miss"]
    assert raw.hits["/ok"] == 3


@pytest.mark.parametrize(
    "cache_control",
    [
        "no-store",
        "private",
        "no-cache",
        "max-age=60, max-age=600",  # contradicts itself
        "max-age=sixty",
        "s-maxage=-1, max-age=60",
        "max-age=60, " + "x" * 5000,
    ],
)
async def test_hostile_cache_control_is_never_cached(
    raw: LoopbackServer, clock: FakeClock, cache_control: str
) -> None:
    raw.response_headers["/ok"] = [("cache-control", cache_control)]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "miss", "miss"]
    assert raw.hits["/ok"] == 3


async def test_stale_if_error_granted_by_the_upstream_outlives_expires(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.response_headers["/ok"] = [
        ("expires", http_date(10)),
        ("cache-control", "stale-if-error=300"),
    ]
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client, 1) == ["miss"]
        clock.advance(60)
        raw.fail_status = 503
        assert await statuses(client, 1) == ["stale"]
    assert raw.hits["/ok"] == 2


# -- response_cache: the response's own Expires -------------------------------------------


def page_app(cache: Cache, headers: dict[str, str], runs: list[int]) -> App:
    app = App()
    app.use(response_cache(store=cache, ttl=300))
    router = Router()

    @router.get("/page")
    async def page(ctx: Context) -> None:
        runs.append(1)
        for name, value in headers.items():
            ctx.set(name, value)
        ctx.body = {"page": 1}

    app.use(router.routes())
    return app


async def test_response_cache_reads_expires(clock: FakeClock) -> None:
    runs: list[int] = []
    cache = Cache(clock=clock)
    async with AsyncTestClient(page_app(cache, {"expires": http_date(30)}, runs)) as client:
        marks = [(await client.get("/page")).headers["x-cache"] for _ in range(3)]
        assert marks == ["MISS", "HIT", "HIT"]
        clock.advance(31)
        assert (await client.get("/page")).headers["x-cache"] == "MISS"
    assert len(runs) == 2


@pytest.mark.parametrize("expires", [http_date(-5), "0", "-1", "Thu, 99 Zzz 2030"])
async def test_response_cache_past_or_invalid_expires_misses(
    clock: FakeClock, expires: str
) -> None:
    runs: list[int] = []
    cache = Cache(clock=clock)
    async with AsyncTestClient(page_app(cache, {"expires": expires}, runs)) as client:
        for _ in range(3):
            r = await client.get("/page")
            assert r.status_code == 200 and r.headers["x-cache"] == "MISS"
            assert r.headers["expires"] == expires  # the handler's header goes out untouched
    assert len(runs) == 3


@pytest.mark.parametrize(
    "headers",
    [
        [("cache-control", "public, max-age=60"), ("cache-control", "no-store")],
        [("cache-control", "max-age=60"), ("cache-control", "max-age=600")],
        [("expires", http_date(60)), ("expires", http_date(120))],  # two Expires: stale
        [("cache-control", "max-age=60"), ("age", "1"), ("age", "2")],
    ],
)
async def test_every_header_line_counts(
    raw: LoopbackServer, clock: FakeClock, headers: list[tuple[str, str]]
) -> None:
    # HTTP clients answer get() with the first line only: the second one must be read too.
    raw.response_headers["/ok"] = headers
    async with AsyncTestClient(upstream_app(raw, Cache(clock=clock))) as client:
        assert await statuses(client) == ["miss", "miss", "miss"]
    assert raw.hits["/ok"] == 3


async def test_a_vary_on_a_later_line_counts(raw: LoopbackServer) -> None:
    raw.response_headers["/ok"] = [("vary", "accept-encoding"), ("vary", "accept-language")]
    upstream = Upstream("raw", raw.url, propagate_headers=("accept-language",))
    app = App()
    app.use(bff([upstream], cache=Cache(), app=app))

    async def handler(ctx: Any) -> None:
        ctx.set("x-cache", (await ctx.bff.upstream("raw").cached_json("/ok")).status)

    app.use(handler)
    async with AsyncTestClient(app) as client:
        for lang in ("en", "fr"):
            r = await client.get("/", headers={"accept-language": lang})
            assert r.headers["x-cache"] == "miss"
    assert raw.hits["/ok"] == 2
