"""response_cache over HTTP: X-Cache and Age, vary, what is never cached, HEAD, herds."""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from scallion.app import App
from scallion.bff.cache import Cache
from scallion.bff.cache_middleware import response_cache
from scallion.context import Context
from scallion.errors import HttpError
from scallion.router import Router
from scallion.testing import AsyncTestClient
from scallion.types import Next

from ._cache_support import FakeClock, clock, make_cache, namespace  # noqa: F401


class Site:
    """An app behind response_cache with routes that count how often they really run."""

    def __init__(self, cache: Cache, **options: Any) -> None:
        self.cache = cache
        self.runs: dict[str, int] = {}
        self.app = App()
        self.app.use(response_cache(store=cache, **options))
        router = Router()
        self.router = router
        self.delay = 0.0

        @router.get("/page")
        async def page(ctx: Context) -> None:
            self.count("page")
            if self.delay:
                await asyncio.sleep(self.delay)
            ctx.set("X-Downstream", "yes")
            ctx.body = {"page": ctx.query.get("p", "1"), "lang": ctx.get("accept-language")}

        self.app.use(router.routes())

    def count(self, name: str) -> None:
        self.runs[name] = self.runs.get(name, 0) + 1

    def route(self, path: str, handler: Callable[[Context], Any]) -> None:
        name = path.strip("/")

        async def counted(ctx: Context) -> None:
            self.count(name)
            result = handler(ctx)
            if asyncio.iscoroutine(result):
                await result

        self.router.get(path, counted)

    def client(self) -> AsyncTestClient:
        return AsyncTestClient(self.app)


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[Cache]:
    c = Cache(clock=clock, wall_clock=clock, default_ttl=30)
    yield c
    await c.aclose()


async def test_miss_then_hit_with_age(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache)
    async with site.client() as client:
        first = await client.get("/page")
        clock.advance(7.6)
        second = await client.get("/page")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache"] == "MISS" and "age" not in first.headers
    assert second.headers["x-cache"] == "HIT" and second.headers["age"] == "7"
    assert second.json() == first.json() == {"page": "1", "lang": ""}
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.headers["x-downstream"] == "yes"
    assert second.headers["content-length"] == first.headers["content-length"]
    assert site.runs["page"] == 1


async def test_entry_expires_after_ttl(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache, ttl=5)
    async with site.client() as client:
        await client.get("/page")
        clock.advance(5)
        again = await client.get("/page")
    assert again.headers["x-cache"] == "MISS" and site.runs["page"] == 2


async def test_query_order_does_not_matter_but_values_do(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        await client.get("/page?p=2&x=1")
        same = await client.get("/page?x=1&p=2")
        other = await client.get("/page?p=3&x=1")
    assert same.headers["x-cache"] == "HIT"
    assert other.headers["x-cache"] == "MISS" and other.json()["page"] == "3"


async def test_vary_headers_select_entries(cache: Cache) -> None:
    site = Site(cache, vary=("Accept-Language",))
    async with site.client() as client:
        en = await client.get("/page", headers={"accept-language": "en"})
        fr = await client.get("/page", headers={"accept-language": "fr"})
        en2 = await client.get("/page", headers={"accept-language": "en"})
    assert (en.headers["x-cache"], fr.headers["x-cache"], en2.headers["x-cache"]) == (
        "MISS",
        "MISS",
        "HIT",
    )
    assert fr.json()["lang"] == "fr" and en2.json()["lang"] == "en"


@pytest.mark.parametrize(
    "cache_control", ["private", "no-store", "no-cache", "private, max-age=600", "max-age=0"]
)
async def test_uncacheable_cache_control_is_not_cached(cache: Cache, cache_control: str) -> None:
    site = Site(cache)

    def handler(ctx: Context) -> None:
        ctx.set("Cache-Control", cache_control)
        ctx.body = "mine"

    site.route("/private", handler)
    async with site.client() as client:
        for _ in range(3):
            response = await client.get("/private")
            assert response.headers["x-cache"] == "MISS" and response.text == "mine"
    assert site.runs["private"] == 3


async def test_response_max_age_sets_lifetime(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache, ttl=1000)

    def handler(ctx: Context) -> None:
        ctx.set("Cache-Control", "public, max-age=3")
        ctx.body = "short"

    site.route("/short", handler)
    async with site.client() as client:
        await client.get("/short")
        clock.advance(2.5)
        hit = await client.get("/short")
        clock.advance(1)
        miss = await client.get("/short")
    assert hit.headers["x-cache"] == "HIT" and hit.headers["cache-control"] == "public, max-age=3"
    assert miss.headers["x-cache"] == "MISS"


async def test_set_cookie_is_never_cached_or_replayed(cache: Cache) -> None:
    site = Site(cache)
    seq = iter(range(100))

    def handler(ctx: Context) -> None:
        ctx.cookies.set("sid", f"session-{next(seq)}")
        ctx.body = "hello"

    site.route("/login", handler)
    async with site.client() as client:
        one = await client.get("/login")
        two = await client.get("/login")
    assert one.headers["x-cache"] == two.headers["x-cache"] == "MISS"
    assert one.cookies["sid"] != two.cookies["sid"]
    assert site.runs["login"] == 2


async def test_only_configured_statuses_are_cached(cache: Cache) -> None:
    site = Site(cache)

    def created(ctx: Context) -> None:
        ctx.status = 201
        ctx.body = "made"

    site.route("/created", created)
    async with site.client() as client:
        for _ in range(2):
            assert (await client.get("/created")).headers["x-cache"] == "MISS"
            missing = await client.get("/nothing-here")
            assert missing.status_code == 404 and missing.headers["x-cache"] == "MISS"
    assert site.runs["created"] == 2


async def test_streamed_body_is_not_cached(cache: Cache) -> None:
    site = Site(cache)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    def handler(ctx: Context) -> None:
        ctx.body = chunks()

    site.route("/stream", handler)
    async with site.client() as client:
        for _ in range(2):
            response = await client.get("/stream")
            assert response.content == b"ab" and response.headers["x-cache"] == "MISS"
    assert site.runs["stream"] == 2


async def test_head_is_answered_from_get_and_fills_it(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        head_first = await client.head("/page?p=9")
        get_after = await client.get("/page?p=9")
        head_again = await client.head("/page?p=9")
    assert head_first.headers["x-cache"] == "MISS" and head_first.content == b""
    assert get_after.headers["x-cache"] == "HIT" and get_after.json()["page"] == "9"
    assert head_again.headers["x-cache"] == "HIT" and head_again.content == b""
    assert head_again.headers["content-length"] == get_after.headers["content-length"]
    assert site.runs["page"] == 1


async def test_other_methods_pass_through(cache: Cache) -> None:
    site = Site(cache)
    site.router.post("/page", lambda ctx: setattr(ctx, "body", "posted"))
    async with site.client() as client:
        for _ in range(2):
            response = await client.post("/page")
            assert response.text == "posted" and "x-cache" not in response.headers


async def test_requests_with_authorization_bypass_unless_varied(cache: Cache) -> None:
    site = Site(cache)
    async with site.client() as client:
        await client.get("/page")
        authed = await client.get("/page", headers={"authorization": "Bearer x"})
    assert "x-cache" not in authed.headers and site.runs["page"] == 2

    varied = Site(Cache(), vary=("authorization",))
    async with varied.client() as client:
        await client.get("/page", headers={"authorization": "Bearer a"})
        again = await client.get("/page", headers={"authorization": "Bearer a"})
        other = await client.get("/page", headers={"authorization": "Bearer b"})
    assert again.headers["x-cache"] == "HIT" and other.headers["x-cache"] == "MISS"
    await varied.cache.aclose()


async def test_response_vary_outside_the_key_is_not_cached(cache: Cache) -> None:
    site = Site(cache, vary=("accept-language",))

    def by_encoding(ctx: Context) -> None:
        ctx.vary("Accept-Encoding")
        ctx.body = "depends on encoding"

    def by_language(ctx: Context) -> None:
        ctx.vary("Accept-Language")
        ctx.body = "depends on language"

    site.route("/enc", by_encoding)
    site.route("/lang", by_language)
    async with site.client() as client:
        for _ in range(2):
            await client.get("/enc")
            await client.get("/lang")
    assert site.runs["enc"] == 2 and site.runs["lang"] == 1


async def test_headers_set_outside_are_not_replayed(cache: Cache) -> None:
    app = App()
    seq = iter(range(100))

    async def outer(ctx: Context, next: Next) -> None:
        ctx.set("X-Request-Id", f"req-{seq.__next__()}")  # per request, set before the cache
        ctx.set("X-Outer", ctx.get("x-who"))
        await next()

    async def inner(ctx: Context, next: Next) -> None:
        ctx.set("X-Response-Time", "1ms")  # per request even though set downstream
        ctx.body = "same for all"

    app.use(outer, response_cache(store=cache), inner)
    async with AsyncTestClient(app) as client:
        a = await client.get("/", headers={"x-who": "alice"})
        b = await client.get("/", headers={"x-who": "bob"})
    assert b.headers["x-cache"] == "HIT"
    assert (a.headers["x-outer"], b.headers["x-outer"]) == ("alice", "bob")
    assert (a.headers["x-request-id"], b.headers["x-request-id"]) == ("req-0", "req-1")
    assert "x-response-time" not in b.headers


async def test_outer_changes_to_a_list_header_never_reach_the_stored_one(cache: Cache) -> None:
    app = App()

    async def outer(ctx: Context, next: Next) -> None:
        await next()
        ctx.response.append("Link", "</outer>; rel=preload")  # per request, after the cache

    async def inner(ctx: Context, next: Next) -> None:
        ctx.response.append("Link", ["</a.css>; rel=preload", "</b.js>; rel=preload"])
        ctx.body = "page"

    app.use(outer, response_cache(store=cache), inner)
    async with AsyncTestClient(app) as client:
        answers = [await client.get("/") for _ in range(3)]
    assert [r.headers["x-cache"] for r in answers] == ["MISS", "HIT", "HIT"]
    for r in answers:
        assert r.headers.get_list("link") == [
            "</a.css>; rel=preload",
            "</b.js>; rel=preload",
            "</outer>; rel=preload",
        ]


async def test_herd_runs_the_chain_once(cache: Cache) -> None:
    site = Site(cache)
    site.delay = 0.05
    async with site.client() as client:
        responses = await asyncio.gather(*(client.get("/page?p=herd") for _ in range(50)))
    assert site.runs["page"] == 1
    assert {r.json()["page"] for r in responses} == {"herd"}
    marks = [r.headers["x-cache"] for r in responses]
    assert marks.count("MISS") == 1 and marks.count("HIT") == 49


async def test_herd_on_private_responses_never_shares_them(cache: Cache) -> None:
    site = Site(cache)

    async def mine(ctx: Context) -> None:
        await asyncio.sleep(0.02)
        ctx.set("Cache-Control", "private")
        ctx.body = {"user": ctx.get("x-user")}

    site.route("/me", mine)
    async with site.client() as client:
        responses = await asyncio.gather(
            *(client.get("/me", headers={"x-user": f"u{i}"}) for i in range(20))
        )
    assert [r.json()["user"] for r in responses] == [f"u{i}" for i in range(20)]
    assert site.runs["me"] == 20


async def test_client_errors_pass_through_uncached(cache: Cache) -> None:
    site = Site(cache)

    def bad(ctx: Context) -> None:
        raise HttpError(400, "bad page number")

    site.route("/bad", bad)
    async with site.client() as client:
        for _ in range(2):
            response = await client.get("/bad")
            assert response.status_code == 400 and response.text == "bad page number"
    assert site.runs["bad"] == 2


async def test_stale_if_error_serves_the_stale_response(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache)
    state = {"fail": False}

    def flaky(ctx: Context) -> None:
        if state["fail"]:
            ctx.set("X-Broken", "1")
            raise HttpError(502, "upstream down")
        ctx.set("Cache-Control", "max-age=10, stale-if-error=100")
        ctx.body = "good"

    def answers_503(ctx: Context) -> None:
        if state["fail"]:
            ctx.status = 503
            ctx.body = "maintenance"
        else:
            ctx.set("Cache-Control", "max-age=10, stale-if-error=50")
            ctx.body = "up"

    site.route("/flaky", flaky)
    site.route("/down", answers_503)
    async with site.client() as client:
        await client.get("/flaky")
        await client.get("/down")
        clock.advance(20)
        state["fail"] = True
        stale = await client.get("/flaky")
        stale_down = await client.get("/down")
        clock.advance(100)
        failed = await client.get("/flaky")
        down = await client.get("/down")
    assert (stale.status_code, stale.text, stale.headers["x-cache"]) == (200, "good", "STALE")
    assert stale.headers["age"] == "20" and "x-broken" not in stale.headers
    assert (failed.status_code, failed.text) == (502, "Bad Gateway")  # 5xx: not exposed
    assert (stale_down.status_code, stale_down.text) == (200, "up")
    assert stale_down.headers["x-cache"] == "STALE"
    assert (down.status_code, down.text, down.headers["x-cache"]) == (503, "maintenance", "MISS")


async def test_stale_while_revalidate_refreshes_once_inline(cache: Cache, clock: FakeClock) -> None:
    site = Site(cache)
    version = {"n": 1}

    async def news(ctx: Context) -> None:
        await asyncio.sleep(0.05 if version["n"] > 1 else 0)
        ctx.set("Cache-Control", "max-age=10, stale-while-revalidate=60")
        ctx.body = f"v{version['n']}"

    site.route("/news", news)
    async with site.client() as client:
        await client.get("/news")
        clock.advance(15)
        version["n"] = 2
        responses = await asyncio.gather(*(client.get("/news") for _ in range(20)))
        after = await client.get("/news")
    marks = sorted(r.headers["x-cache"] for r in responses)
    assert marks == ["MISS"] + ["STALE"] * 19
    assert {r.text for r in responses if r.headers["x-cache"] == "STALE"} == {"v1"}
    assert (after.text, after.headers["x-cache"]) == ("v2", "HIT")
    assert site.runs["news"] == 2


async def test_custom_key(cache: Cache) -> None:
    site = Site(cache, key=lambda ctx: "one-key-for-all")
    async with site.client() as client:
        await client.get("/page?p=1")
        other = await client.get("/page?p=2")
    assert other.headers["x-cache"] == "HIT" and other.json()["page"] == "1"


async def test_shared_through_redis_between_two_apps(make_cache: Callable[..., Cache]) -> None:
    one, two = Site(make_cache()), Site(make_cache())

    def handler(ctx: Context) -> None:
        ctx.set("Content-Language", "en")
        ctx.body = b"\x00binary\xff"

    one.route("/bin", handler)
    two.route("/bin", handler)
    async with one.client() as client:
        first = await client.get("/bin")
    async with two.client() as client:
        second = await client.get("/bin")
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert second.content == b"\x00binary\xff"
    assert second.headers["content-type"] == "application/octet-stream"
    assert second.headers["content-language"] == "en"
    assert "runs" not in two.runs and two.runs.get("bin") is None


async def test_private_cache_is_closed_on_shutdown() -> None:
    app = App()
    middleware = response_cache(ttl=5)
    app.use(middleware, lambda ctx, next: setattr(ctx, "body", "x"))
    cache: Cache = middleware.cache  # type: ignore[attr-defined]
    async with AsyncTestClient(app) as client:
        await client.get("/")
        assert (await client.get("/")).headers["x-cache"] == "HIT"
    with pytest.raises(RuntimeError):
        await cache.get_or_fetch("new", lambda: asyncio.sleep(0))


async def test_key_memo_stays_bounded_and_long_urls_work(cache: Cache) -> None:
    middleware = response_cache(store=cache)
    app = App()
    app.use(middleware, lambda ctx, next: setattr(ctx, "body", ctx.querystring[:10]))
    long_query = "x=" + "a" * 6000
    async with AsyncTestClient(app) as client:
        first = await client.get(f"/?{long_query}")
        again = await client.get(f"/?{long_query}")
        for i in range(300):
            await client.get(f"/?n={i}")
    assert again.headers["x-cache"] == "HIT" and again.text == first.text
    keys = list(cache.l1)
    assert all(len(k) == 32 for k in keys)


def test_keyer_memo_is_bounded() -> None:
    from scallion.bff.cache_middleware import _Keyer

    keyer = _Keyer(("accept",), private_ok=False)
    base = {"headers": [(b"host", b"h"), (b"accept", b"json")], "query_string": b""}
    keys = set()
    for i in range(_Keyer._MEMO_SIZE + 10):
        keys.add(keyer({**base, "raw_path": f"/p{i}".encode(), "path": f"/p{i}"}, "GET"))
    assert len(keys) == _Keyer._MEMO_SIZE + 10
    assert len(keyer.memo) <= _Keyer._MEMO_SIZE
    head = keyer({**base, "raw_path": b"/p1", "path": "/p1"}, "HEAD")
    get = keyer({**base, "raw_path": b"/p1", "path": "/p1"}, "GET")
    assert head == get
    authed = {**base, "headers": [*base["headers"], (b"authorization", b"x")]}
    assert keyer({**authed, "raw_path": b"/p1", "path": "/p1"}, "GET") is None
