"""Conditional refreshes of cached upstream answers (RFC 9111 §4.3), over loopback HTTP.

The upstream is ``_loopback``'s ``/versioned``: it sends ``ETag``/``Last-Modified`` and
answers ``304`` to a matching ``If-None-Match``/``If-Modified-Since``. Its ``version`` is
bumped between calls where a ``304`` must serve the stored body: the old version coming
back proves the body was neither transferred nor parsed again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from scallion import App
from scallion.bff import Cache, Upstream, UpstreamBadResponse, bff
from scallion.bff.cache import NotModified, NotModifiedError, stored_validators
from scallion.bff.cache_types import CacheEntry, Validators
from scallion.testing import AsyncTestClient

from ._cache_support import REDIS_URL, FakeClock
from ._cache_support import make_cache as make_cache  # fixtures, imported by name
from ._cache_support import namespace as namespace
from ._loopback import LoopbackServer

LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="raw")
async def raw_fixture() -> AsyncIterator[LoopbackServer]:
    server = await LoopbackServer("raw").start()
    try:
        yield server
    finally:
        await server.close()


def cached_app(raw: LoopbackServer, cache: Cache, **options: Any) -> App:
    """``GET /c``: ``cached_json("/versioned", **options)``; X-Cache says how, errors 502."""
    upstream = Upstream("raw", raw.url, timeout=2.0)
    app = App()
    app.use(bff([upstream], cache=cache, app=app))

    async def handler(ctx: Any) -> None:
        try:
            result = await ctx.bff.upstream("raw").cached_json("/versioned", **options)
        except UpstreamBadResponse as exc:
            ctx.status = 502
            ctx.body = {"error": exc.message}
            return
        ctx.set("x-cache", result.status)
        ctx.body = result.value

    app.use(handler)
    return app


def sent(raw: LoopbackServer) -> dict[str, str]:
    """The headers of the upstream's last request."""
    headers = raw.requests[-1]["headers"]
    assert isinstance(headers, dict)
    return headers


async def test_a_stale_entry_is_revalidated_and_a_304_serves_the_stored_body(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    raw.response_headers["/versioned"] = [("cache-control", "max-age=30")]
    raw.not_modified_headers = [("cache-control", "max-age=30"), ("etag", '"v1"')]
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache)) as client:
        first = await client.get("/c")
        assert first.json() == {"version": 1} and first.headers["x-cache"] == "miss"
        assert "if-none-match" not in sent(raw)
        raw.version = 2  # a 200 would say so
        clock.advance(40)  # past max-age, no stale window: only a 304 may serve it now
        again = await client.get("/c")
        assert again.status_code == 200 and again.json() == {"version": 1}
        assert sent(raw)["if-none-match"] == '"v1"'
        assert "if-modified-since" not in sent(raw)
        assert raw.hits["/versioned"] == 2
        # fresh again for the 304's max-age
        clock.advance(20)
        assert (await client.get("/c")).headers["x-cache"] == "hit"
        assert raw.hits["/versioned"] == 2
    stats = cache.stats
    assert (stats.revalidations, stats.not_modified, stats.upstream_calls) == (1, 1, 2)
    assert stats.upstream_errors == 0


async def test_a_304_without_freshness_headers_keeps_the_stored_lifetime(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    raw.response_headers["/versioned"] = [("cache-control", "max-age=30")]
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=5)) as client:
        await client.get("/c")
        clock.advance(31)
        assert (await client.get("/c")).json() == {"version": 1}
        clock.advance(29)  # the stored max-age=30 counts from the 304, not the ttl=5
        assert (await client.get("/c")).headers["x-cache"] == "hit"
        clock.advance(2)
        await client.get("/c")
    assert raw.hits["/versioned"] == 3 and cache.stats.not_modified == 2


async def test_last_modified_alone_sends_if_modified_since(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.last_modified = LAST_MODIFIED
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        raw.version = 2
        clock.advance(11)
        r = await client.get("/c")
    assert r.json() == {"version": 1}
    assert sent(raw)["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in sent(raw)
    assert cache.stats.not_modified == 1


async def test_a_200_to_a_conditional_refresh_replaces_the_entry(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    raw.last_modified = LAST_MODIFIED
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        raw.version, raw.etag = 2, 'W/"v2"'  # changed: the old validators do not match
        clock.advance(11)
        assert (await client.get("/c")).json() == {"version": 2}
        assert sent(raw)["if-none-match"] == '"v1"'
        assert sent(raw)["if-modified-since"] == LAST_MODIFIED
        clock.advance(11)
        assert (await client.get("/c")).json() == {"version": 2}
        assert sent(raw)["if-none-match"] == 'W/"v2"'  # weak tags are sent back as they are
    assert (cache.stats.revalidations, cache.stats.not_modified) == (2, 1)


async def test_the_background_refresh_is_conditional(raw: LoopbackServer, clock: FakeClock) -> None:
    raw.etag = '"v1"'
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10, stale_while_revalidate=60)) as client:
        await client.get("/c")
        raw.version = 2
        clock.advance(15)
        assert (await client.get("/c")).headers["x-cache"] == "stale"
        for _ in range(200):
            if cache.stats.not_modified == 1 and not cache._refreshes:
                break
            await asyncio.sleep(0.01)
        assert sent(raw)["if-none-match"] == '"v1"'
        r = await client.get("/c")
    assert r.headers["x-cache"] == "hit" and r.json() == {"version": 1}
    assert cache.stats.refreshes == 1 and cache.stats.refresh_errors == 0


async def test_an_inline_refresh_through_the_public_api(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    """Any fetch can be conditional: ``stored_validators()`` in, ``NotModified`` out."""
    raw.etag = '"v1"'
    upstream = Upstream("raw", raw.url, timeout=2.0)
    cache = Cache(clock=clock, wall_clock=clock)
    parsed = 0

    async def fetch() -> CacheEntry[Any] | NotModified:
        nonlocal parsed
        validators = stored_validators()
        headers = validators.request_headers() if validators else None
        resp = await upstream.get("/versioned", headers=headers)
        if resp.status == 304:
            return NotModified(headers=resp.headers)
        parsed += 1
        return CacheEntry(resp.json(), headers=resp.headers)

    options: dict[str, Any] = {
        "ttl": 10,
        "stale_while_revalidate": 30,
        "revalidate": "inline",
        "conditional": True,
    }
    try:
        assert (await cache.get_or_fetch("k", fetch, **options)).status == "miss"
        raw.version = 2
        clock.advance(12)
        result = await cache.get_or_fetch("k", fetch, **options)
        assert result.value == {"version": 1} and result.status == "miss"
        assert (await cache.get_or_fetch("k", fetch, **options)).status == "hit"
    finally:
        await upstream.aclose()
        await cache.aclose()
    assert parsed == 1 and raw.hits["/versioned"] == 2
    assert sent(raw)["if-none-match"] == '"v1"'


async def test_a_304_to_an_unconditional_call_is_a_clear_error(raw: LoopbackServer) -> None:
    raw.always_304 = True
    cache = Cache()
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        r = await client.get("/c")
        assert r.status_code == 502
        assert "304 Not Modified to a request that sent no validator" in r.json()["error"]
        raw.always_304 = False  # nothing bad was cached: the next call works
        assert (await client.get("/c")).json() == {"version": 1}
    assert cache.stats.upstream_errors == 1


async def test_not_modified_with_nothing_stored_fails_the_fetch(clock: FakeClock) -> None:
    cache = Cache(clock=clock)

    async def fetch() -> NotModified:
        return NotModified(headers={"cache-control": "max-age=60"})

    try:
        with pytest.raises(NotModifiedError, match="no stored entry was offered"):
            await cache.get_or_fetch("k", fetch, conditional=True)
        with pytest.raises(NotModifiedError):  # a fetch that is not conditional either
            await cache.get_or_fetch("k2", fetch)
    finally:
        await cache.aclose()
    assert cache.stats.upstream_errors == 2 and cache.stats.not_modified == 0


async def test_a_304_naming_another_etag_is_an_error_and_stale_if_error_answers(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10, stale_if_error=60)) as client:
        await client.get("/c")
        raw.always_304 = True
        raw.not_modified_headers = [("etag", '"other"')]
        clock.advance(11)
        r = await client.get("/c")
    assert r.headers["x-cache"] == "stale" and r.json() == {"version": 1}
    assert cache.stats.upstream_errors == 1 and cache.stats.not_modified == 0


async def test_a_304_with_no_store_serves_once_and_drops_the_entry(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    raw.not_modified_headers = [("cache-control", "no-store")]
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        raw.version = 2
        clock.advance(11)
        assert (await client.get("/c")).json() == {"version": 1}
        assert (await client.get("/c")).json() == {"version": 2}  # unconditional again
    assert "if-none-match" not in sent(raw)


@pytest.mark.parametrize(
    ("etag", "last_modified"),
    [
        ('"' + "x" * 5000 + '"', None),  # far too long to send back
        ('"abc', None),  # unterminated
        ('"a b"', None),  # a space is no etagc
        (None, "yesterday, around noon"),
        (None, "Sun, 06 Nov 1994 08:49:37 GMT garbage"),
        (None, "Sun, 31 Feb 1994 08:49:37 GMT"),
    ],
)
async def test_hostile_validators_are_never_sent_back(
    raw: LoopbackServer, clock: FakeClock, etag: str | None, last_modified: str | None
) -> None:
    raw.etag = etag
    raw.last_modified = last_modified
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        assert (await client.get("/c")).status_code == 200
        raw.version = 2
        clock.advance(11)
        r = await client.get("/c")
    assert r.status_code == 200 and r.json() == {"version": 2}
    refresh = sent(raw)
    assert "if-none-match" not in refresh and "if-modified-since" not in refresh
    assert cache.stats.revalidations == 0


async def test_a_crlf_in_the_upstreams_header_ends_it_and_injects_nothing(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    """On the wire a CR/LF starts another header line: the tag before it is what is kept,
    and the would-be header after it is never sent back upstream."""
    raw.etag = '"abc"\r\nx-injected: 1'
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        clock.advance(11)
        await client.get("/c")
    assert sent(raw)["if-none-match"] == '"abc"' and "x-injected" not in sent(raw)


def test_validators_are_checked_when_an_entry_is_made() -> None:
    assert CacheEntry(1, headers={"etag": ' W/"ok" '}).etag == 'W/"ok"'
    assert CacheEntry(1, etag='"a\r\nb"').etag is None
    assert CacheEntry(1, etag='"\x00"').etag is None
    assert CacheEntry(1, last_modified="0").last_modified is None
    assert NotModified(headers={"last-modified": f" {LAST_MODIFIED} "}).last_modified == (
        LAST_MODIFIED
    )
    assert Validators(etag='"a"', last_modified=LAST_MODIFIED).request_headers() == {
        "if-none-match": '"a"',
        "if-modified-since": LAST_MODIFIED,
    }


async def test_entries_without_validators_are_not_kept_past_their_windows(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        assert len(cache.l1) == 1
        clock.advance(11)
        assert cache.l1.get(next(iter(cache.l1.slots))) is None


async def test_revalidate_ttl_bounds_how_long_an_entry_waits_for_its_304(
    raw: LoopbackServer, clock: FakeClock
) -> None:
    raw.etag = '"v1"'
    cache = Cache(clock=clock, wall_clock=clock, revalidate_ttl=30)
    async with AsyncTestClient(cached_app(raw, cache, ttl=10)) as client:
        await client.get("/c")
        clock.advance(41)  # past ttl + revalidate_ttl: gone
        await client.get("/c")
        assert "if-none-match" not in sent(raw)
        clock.advance(39)  # within them: revalidated
        await client.get("/c")
        assert sent(raw)["if-none-match"] == '"v1"'
    with pytest.raises(ValueError, match="revalidate_ttl"):
        Cache(revalidate_ttl=-1)


# -- the shared tier: another process revalidates what this one stored ----------------------


async def test_another_process_revalidates_from_the_l2_record(
    raw: LoopbackServer, clock: FakeClock, make_cache: Callable[..., Cache], namespace: str
) -> None:
    raw.etag = '"v1"'
    raw.last_modified = LAST_MODIFIED
    raw.response_headers["/versioned"] = [("cache-control", "max-age=30")]
    first = make_cache(clock=clock, wall_clock=clock)
    second = make_cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, first)) as client:
        assert (await client.get("/c")).json() == {"version": 1}
    client_redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client_redis.scan_iter(match=f"{namespace}:v:*")]
        assert len(keys) == 1
        ttl = await client_redis.pttl(keys[0])
        assert 85_000 < ttl <= 90_000  # max-age 30 + the default revalidate_ttl 60
    finally:
        await client_redis.aclose()
    raw.version = 2
    clock.advance(45)
    async with AsyncTestClient(cached_app(raw, second)) as client:
        r = await client.get("/c")
    assert r.json() == {"version": 1}
    assert sent(raw)["if-none-match"] == '"v1"'
    assert sent(raw)["if-modified-since"] == LAST_MODIFIED
    assert second.stats.not_modified == 1 and raw.hits["/versioned"] == 2
    # the refreshed record went back to L2: a third process finds it fresh
    third = make_cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, third)) as client:
        assert (await client.get("/c")).headers["x-cache"] == "hit"
    assert raw.hits["/versioned"] == 2


async def test_a_hostile_l2_record_is_a_miss(
    clock: FakeClock, make_cache: Callable[..., Cache]
) -> None:
    import struct

    cache = make_cache(clock=clock, wall_clock=clock)
    assert cache.l2 is not None
    header = struct.pack("<BBdddd", 2, 0, clock(), 30.0, 0.0, 0.0)
    decoded = []
    for meta in (b"[1, 2, 3, 4, 5]", b"not json", b'["\\"a\\r\\nb\\"", null, null, null, 60]'):
        data = header + struct.pack("<H", len(meta)) + meta + b'j{"v": 1}'
        await cache.l2.store.set(cache.l2.data_key("k"), data, 30)
        rec = await cache.l2.get("k", cache.codec)
        if rec is not None:
            decoded.append(rec)
    assert len(decoded) == 1  # only the last one; its CR/LF tag is dropped
    assert decoded[0].meta is not None and decoded[0].meta.etag is None
    assert decoded[0].value == {"v": 1} and decoded[0].hold == 60


async def test_records_without_validators_stay_version_1(
    clock: FakeClock, make_cache: Callable[..., Cache]
) -> None:
    """Processes that predate validators keep reading what this one writes."""
    cache = make_cache(clock=clock, wall_clock=clock)
    assert cache.l2 is not None

    async def plain() -> CacheEntry[Any]:
        return CacheEntry({"v": 1}, ttl=30)

    async def tagged() -> CacheEntry[Any]:
        return CacheEntry({"v": 1}, ttl=30, etag='"t"')

    await cache.get_or_fetch("plain", plain, conditional=True)
    await cache.get_or_fetch("tagged", tagged, conditional=True)
    await cache.get_or_fetch("unasked", tagged)  # not a conditional call: no validators kept
    versions = [
        (await cache.l2.store.get(cache.l2.data_key(key)) or b"?")[0]
        for key in ("plain", "tagged", "unasked")
    ]
    assert versions == [1, 2, 1]


@pytest.mark.parametrize("cache_control", ["no-cache", "max-age=0", "no-cache, max-age=600"])
async def test_always_revalidate_responses_are_kept_and_revalidated_each_time(
    raw: LoopbackServer, clock: FakeClock, cache_control: str
) -> None:
    """``no-cache`` (or ``max-age=0``) with an ETag: stored, but every use needs a 304."""
    raw.etag = '"v1"'
    raw.response_headers["/versioned"] = [("cache-control", cache_control)]
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=30)) as client:
        await client.get("/c")
        raw.version = 2
        for _ in range(3):
            r = await client.get("/c")
            assert r.json() == {"version": 1} and r.headers["x-cache"] == "miss"
            assert sent(raw)["if-none-match"] == '"v1"'
    assert raw.hits["/versioned"] == 4 and cache.stats.not_modified == 3


@pytest.mark.parametrize(
    ("cache_control", "etag"),
    [("no-cache", None), ("no-cache, private", '"v1"'), ("no-store, no-cache", '"v1"')],
)
async def test_no_cache_without_a_validator_or_with_no_store_is_not_kept(
    raw: LoopbackServer, clock: FakeClock, cache_control: str, etag: str | None
) -> None:
    raw.etag = etag
    raw.response_headers["/versioned"] = [("cache-control", cache_control)]
    cache = Cache(clock=clock, wall_clock=clock)
    async with AsyncTestClient(cached_app(raw, cache, ttl=30)) as client:
        await client.get("/c")
        raw.version = 2
        assert (await client.get("/c")).json() == {"version": 2}
    assert "if-none-match" not in sent(raw) and cache.stats.revalidations == 0


def test_policy_helpers() -> None:
    from scallion.bff.cache_policy import etag_list_matches, freshness, valid_etag

    assert freshness("no-cache", now=0, ttl=30) is None
    assert freshness("no-cache", now=0, ttl=30, revalidatable=True) == (0.0, 0.0, 0.0)
    assert freshness("no-cache, private", now=0, ttl=30, revalidatable=True) is None
    assert freshness("no-store", now=0, ttl=30, revalidatable=True) is None
    assert etag_list_matches('"a", W/"b,c" , "d"', '"b,c"')  # commas inside a tag
    assert not etag_list_matches('"a" "b"', '"b"')  # not a list: matches nothing
    assert not etag_list_matches("", '"a"')
    assert valid_etag('W/""') == 'W/""' and valid_etag('w/"a"') is None
