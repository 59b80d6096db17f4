"""response_cache and conditional GET through the ASGI app: ETag, If-None-Match, 304s."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scallion.app import App
from scallion.bff.cache import Cache
from scallion.bff.cache_middleware import response_cache
from scallion.context import Context
from scallion.middleware.compress import compress
from scallion.middleware.etag import etag_for_bytes
from scallion.router import Router
from scallion.testing import AsyncTestClient

from ._cache_support import FakeClock

BODY = b'{"page":"1"}'
TAG = etag_for_bytes(BODY, weak=False)
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[Cache]:
    c = Cache(clock=clock, wall_clock=clock, default_ttl=30)
    yield c
    await c.aclose()


class Site:
    """``/page`` (JSON, no validators), ``/tagged`` (the handler's ETag and Last-Modified),
    ``/dated`` (Last-Modified only), ``/flaky`` (stale-if-error; fails once ``broken``)."""

    def __init__(self, cache: Cache, **options: Any) -> None:
        self.runs: dict[str, int] = {}
        self.broken = False
        self.app = App()
        self.app.use(response_cache(store=cache, **options))
        router = Router()

        @router.get("/page")
        async def page(ctx: Context) -> None:
            self.runs["page"] = self.runs.get("page", 0) + 1
            ctx.body = {"page": "1"}

        @router.get("/tagged")
        async def tagged(ctx: Context) -> None:
            self.runs["tagged"] = self.runs.get("tagged", 0) + 1
            ctx.set("ETag", 'W/"handler-7"')
            ctx.set("Last-Modified", LAST_MODIFIED)
            ctx.body = "tagged"

        @router.get("/dated")
        async def dated(ctx: Context) -> None:
            ctx.set("Last-Modified", LAST_MODIFIED)
            ctx.body = "dated"

        @router.get("/flaky")
        async def flaky(ctx: Context) -> None:
            if self.broken:
                ctx.throw(503, "down")
            ctx.set("Cache-Control", "max-age=10, stale-if-error=100")
            ctx.body = "good"

        self.app.use(router.routes())

    def client(self) -> AsyncTestClient:
        return AsyncTestClient(self.app)


async def test_a_stored_response_gets_a_strong_etag_of_its_body(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        miss = await client.get("/page")
        hit = await client.get("/page")
    assert miss.content == BODY and miss.headers["etag"] == TAG
    assert hit.headers["x-cache"] == "HIT" and hit.headers["etag"] == TAG


@pytest.mark.parametrize(
    "if_none_match",
    [TAG, f"W/{TAG}", f'"other", {TAG}', f'  "x,y" ,{TAG} ', "*"],
)
async def test_a_matching_if_none_match_answers_304(cache: Cache, if_none_match: str) -> None:
    site = Site(cache)
    async with site.client() as client:
        await client.get("/page")
        r = await client.get("/page", headers={"if-none-match": if_none_match})
        head = await client.head("/page", headers={"if-none-match": if_none_match})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == TAG and r.headers["x-cache"] == "HIT"
    assert head.status_code == 304 and head.headers["etag"] == TAG
    assert site.runs["page"] == 1


@pytest.mark.parametrize(
    "if_none_match",
    ['"nope"', TAG[:-2] + '"', "W/", "garbage", TAG[1:-1], f"{TAG}{TAG}", '"' + "a" * 50_000 + '"'],
)
async def test_a_mismatched_or_malformed_if_none_match_gets_the_whole_response(
    cache: Cache, if_none_match: str
) -> None:
    site = Site(cache)
    async with site.client() as client:
        await client.get("/page")
        started = time.perf_counter()
        r = await client.get("/page", headers={"if-none-match": if_none_match})
        took = time.perf_counter() - started
    assert r.status_code == 200 and r.content == BODY and r.headers["x-cache"] == "HIT"
    assert took < 1.0


async def test_the_miss_that_stores_the_response_answers_304_too(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        r = await client.get("/page", headers={"if-none-match": TAG})
    assert r.status_code == 304 and r.headers["x-cache"] == "MISS" and r.content == b""
    assert site.runs["page"] == 1


async def test_the_handlers_etag_is_kept_and_compared_weakly(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        first = await client.get("/tagged")
        r = await client.get("/tagged", headers={"if-none-match": '"handler-7"'})
    assert first.headers["etag"] == 'W/"handler-7"'
    assert r.status_code == 304 and r.headers["etag"] == 'W/"handler-7"'
    assert r.headers["last-modified"] == LAST_MODIFIED


@pytest.mark.parametrize(
    ("since", "status"),
    [
        (LAST_MODIFIED, 304),
        ("Mon, 07 Nov 1994 08:49:37 GMT", 304),  # later: not modified since
        ("Sat, 05 Nov 1994 08:49:37 GMT", 200),  # earlier
        ("Sunday, 06-Nov-94 08:49:37 GMT", 304),  # the obsolete RFC 850 form
        ("yesterday", 200),
        ("Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", 200),  # two of them
        ("x" * 10_000, 200),
    ],
)
async def test_if_modified_since_against_last_modified(
    cache: Cache, since: str, status: int
) -> None:
    site = Site(cache, etag=False)
    async with site.client() as client:
        await client.get("/dated")
        r = await client.get("/dated", headers={"if-modified-since": since})
    assert r.status_code == status
    assert "etag" not in r.headers  # etag=False: no ETag was added


async def test_if_none_match_wins_over_if_modified_since(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        await client.get("/tagged")
        r = await client.get(
            "/tagged", headers={"if-none-match": '"changed"', "if-modified-since": LAST_MODIFIED}
        )
    assert r.status_code == 200 and r.text == "tagged"


async def test_without_an_etag_if_none_match_never_matches(cache: Cache) -> None:
    site = Site(cache, etag=False)
    async with site.client() as client:
        first = await client.get("/page")
        r = await client.get("/page", headers={"if-none-match": "*"})
    assert "etag" not in first.headers
    assert r.status_code == 200 and r.content == BODY


async def test_a_stale_answer_is_conditional_too(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache)
    async with site.client() as client:
        first = await client.get("/flaky")
        clock.advance(20)
        site.broken = True  # the chain fails now: stale-if-error answers
        r = await client.get("/flaky", headers={"if-none-match": first.headers["etag"]})
        full = await client.get("/flaky")
    assert r.status_code == 304 and r.headers["x-cache"] == "STALE"
    assert full.status_code == 200 and full.text == "good" and full.headers["x-cache"] == "STALE"


async def test_only_get_and_head_are_conditional(cache: Cache) -> None:
    app = App()
    app.use(response_cache(store=cache, methods=("GET", "POST")))

    async def handler(ctx: Context) -> None:
        ctx.body = {"page": "1"}

    app.use(handler)
    async with AsyncTestClient(app) as client:
        await client.post("/")
        r = await client.post("/", headers={"if-none-match": TAG})
    assert r.status_code == 200 and r.headers["x-cache"] == "HIT"


async def test_a_custom_key_function_sees_conditional_requests(cache: Cache) -> None:
    app = App()
    app.use(response_cache(store=cache, key=lambda ctx: ctx.path))

    async def handler(ctx: Context) -> None:
        ctx.body = {"page": "1"}

    app.use(handler)
    async with AsyncTestClient(app) as client:
        await client.get("/")
        r = await client.get("/", headers={"if-none-match": TAG})
    assert r.status_code == 304


async def test_compression_outside_weakens_the_tag_and_still_matches(cache: Cache) -> None:
    app = App()
    app.use(compress(threshold=1))
    app.use(response_cache(store=cache))

    async def handler(ctx: Context) -> None:
        ctx.body = {"text": "x" * 2000}

    app.use(handler)
    async with AsyncTestClient(app) as client:
        first = await client.get("/", headers={"accept-encoding": "gzip"})
        tag = first.headers["etag"]
        r = await client.get("/", headers={"accept-encoding": "gzip", "if-none-match": tag})
    assert tag.startswith('W/"') and first.headers["content-encoding"] == "gzip"
    assert r.status_code == 304
