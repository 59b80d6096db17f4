"""The Cache in one process (L1 only): TTLs, Cache-Control, stale serving, negative caching."""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from scallion.bff.cache import Cache, CacheEntry, CacheResult
from scallion.errors import HttpError

from ._cache_support import FakeClock, Upstream, clock  # noqa: F401


@pytest.fixture
async def cache(clock: FakeClock) -> AsyncIterator[Cache]:
    c = Cache(clock=clock, wall_clock=clock, default_ttl=10)
    yield c
    await c.aclose()


async def test_miss_then_hit_until_ttl(cache: Cache, clock: FakeClock) -> None:
    upstream = Upstream({"id": 1})
    first = await cache.get_or_fetch("k", upstream)
    assert (first.status, first.value, first.age) == ("miss", {"id": 1}, 0.0)
    clock.advance(9)
    second = await cache.get_or_fetch("k", upstream)
    assert (second.status, second.age) == ("hit", 9)
    assert second.value is first.value
    clock.advance(1)
    assert (await cache.get_or_fetch("k", upstream)).status == "miss"
    assert upstream.calls == 2
    assert cache.stats.hits == 1 and cache.stats.misses == 2


async def test_call_ttl_overrides_default(cache: Cache, clock: FakeClock) -> None:
    upstream = Upstream()
    await cache.get_or_fetch("k", upstream, ttl=2)
    clock.advance(2)
    await cache.get_or_fetch("k", upstream, ttl=2)
    assert upstream.calls == 2


@pytest.mark.parametrize("header", ["no-store", "private, max-age=60", "no-cache", "max-age=0"])
async def test_uncacheable_cache_control_is_not_stored(cache: Cache, header: str) -> None:
    async def fetch() -> CacheEntry[str]:
        fetch.calls += 1  # type: ignore[attr-defined]
        return CacheEntry("v", cache_control=header)

    fetch.calls = 0  # type: ignore[attr-defined]
    for _ in range(3):
        result = await cache.get_or_fetch("k", fetch)
        assert (result.status, result.value) == ("miss", "v")
    assert fetch.calls == 3  # type: ignore[attr-defined]


async def test_max_age_sets_ttl_and_age_header_shortens_it(cache: Cache, clock: FakeClock) -> None:
    await cache.set("a", CacheEntry("v", cache_control="max-age=30"))
    await cache.set("b", CacheEntry("v", cache_control="max-age=30, s-maxage=5"))
    await cache.set("c", CacheEntry("v", cache_control="max-age=30", age=25))
    clock.advance(4.9)
    assert all([await cache.get("a"), await cache.get("b"), await cache.get("c")])
    clock.advance(0.2)
    assert await cache.get("a") and not await cache.get("b") and not await cache.get("c")
    clock.advance(25)
    assert await cache.get("a") is None


async def test_explicit_entry_ttl_wins_and_max_ttl_caps(clock: FakeClock) -> None:
    cache = Cache(clock=clock, max_ttl=100)
    await cache.set("a", CacheEntry("v", cache_control="max-age=5", ttl=50))
    await cache.set("b", CacheEntry("v", cache_control="max-age=100000"))
    clock.advance(49)
    assert await cache.get("a") and await cache.get("b")
    clock.advance(52)
    assert not await cache.get("a") and not await cache.get("b")
    await cache.aclose()


async def test_stale_while_revalidate_serves_stale_and_refreshes_once(clock: FakeClock) -> None:
    cache = Cache(clock=clock, default_ttl=10, stale_ttl=30)
    upstream = Upstream("v1")
    await cache.get_or_fetch("k", upstream)
    clock.advance(15)
    upstream.value, upstream.delay = "v2", 0.02
    results = await asyncio.gather(*(cache.get_or_fetch("k", upstream) for _ in range(50)))
    assert {(r.status, r.value) for r in results} == {("stale", "v1")}
    assert results[0].age == 15 and results[0].stale
    await asyncio.sleep(0.05)  # the one background refresh lands
    assert upstream.calls == 2
    assert cache.stats.refreshes == 1 and cache.stats.stale == 50
    fresh = await cache.get_or_fetch("k", upstream)
    assert (fresh.status, fresh.value) == ("hit", "v2")
    await cache.aclose()


async def test_past_stale_window_fetches_in_the_foreground(clock: FakeClock) -> None:
    cache = Cache(clock=clock, default_ttl=10, stale_ttl=5)
    upstream = Upstream("v1")
    await cache.get_or_fetch("k", upstream)
    clock.advance(16)
    upstream.value = "v2"
    result = await cache.get_or_fetch("k", upstream)
    assert (result.status, result.value) == ("miss", "v2")
    await cache.aclose()


async def test_failed_refresh_keeps_serving_stale(clock: FakeClock) -> None:
    cache = Cache(clock=clock, default_ttl=10, stale_ttl=30)
    upstream = Upstream("v1")
    await cache.get_or_fetch("k", upstream)
    clock.advance(11)
    upstream.error = ConnectionError("down")
    assert (await cache.get_or_fetch("k", upstream)).status == "stale"
    await asyncio.sleep(0.01)
    assert cache.stats.refresh_errors == 1
    assert (await cache.get_or_fetch("k", upstream)).value == "v1"
    await cache.aclose()


async def test_stale_if_error_serves_stale_marked_with_the_error(
    cache: Cache, clock: FakeClock
) -> None:
    async def fetch() -> CacheEntry[str]:
        if fetch.fail:  # type: ignore[attr-defined]
            raise ConnectionError("upstream down")
        return CacheEntry("v1", cache_control="max-age=10, stale-if-error=60")

    fetch.fail = False  # type: ignore[attr-defined]
    await cache.get_or_fetch("k", fetch)
    clock.advance(30)
    fetch.fail = True  # type: ignore[attr-defined]
    result = await cache.get_or_fetch("k", fetch)
    assert (result.status, result.value, result.age) == ("stale", "v1", 30)
    assert isinstance(result.error, ConnectionError)
    clock.advance(41)  # 71 s old: past max-age + stale-if-error
    with pytest.raises(ConnectionError):
        await cache.get_or_fetch("k", fetch)


async def test_must_revalidate_closes_stale_windows(cache: Cache, clock: FakeClock) -> None:
    upstream = Upstream()

    async def fetch() -> CacheEntry[str]:
        await upstream()
        return CacheEntry("v", cache_control="max-age=1, must-revalidate, stale-if-error=60")

    await cache.get_or_fetch("k", fetch)
    clock.advance(2)
    upstream.error = ConnectionError("down")
    with pytest.raises(ConnectionError):
        await cache.get_or_fetch("k", fetch)


async def test_failures_are_cached_for_negative_ttl(clock: FakeClock) -> None:
    cache = Cache(clock=clock, negative_ttl=2)
    upstream = Upstream()
    upstream.error = HttpError(503, "service down")
    for _ in range(5):
        with pytest.raises(HttpError) as info:
            await cache.get_or_fetch("k", upstream)
        assert info.value.status == 503
    assert upstream.calls == 1 and cache.stats.negative_hits == 4
    clock.advance(2)
    upstream.error = None
    assert (await cache.get_or_fetch("k", upstream)).status == "miss"
    assert upstream.calls == 2
    await cache.aclose()


async def test_negative_hit_traceback_does_not_grow(clock: FakeClock) -> None:
    cache = Cache(clock=clock, negative_ttl=60)
    upstream = Upstream()
    upstream.error = ValueError("bad")
    depths = []
    for _ in range(20):
        try:
            await cache.get_or_fetch("k", upstream)
        except ValueError as exc:
            depth, tb = 0, exc.__traceback__
            while tb is not None:
                depth, tb = depth + 1, tb.tb_next
            depths.append(depth)
    assert max(depths[1:]) == min(depths[1:])
    await cache.aclose()


async def test_failures_are_not_cached_by_default(cache: Cache) -> None:
    upstream = Upstream()
    upstream.error = ConnectionError("down")
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await cache.get_or_fetch("k", upstream)
    assert upstream.calls == 3


async def test_negative_status_ttl_is_bounded(clock: FakeClock) -> None:
    cache = Cache(clock=clock, negative_ttl=3, negative_statuses=(404,))

    async def fetch() -> CacheEntry[dict[str, str]]:
        fetch.calls += 1  # type: ignore[attr-defined]
        return CacheEntry({"error": "not found"}, status=404, cache_control="max-age=3600")

    fetch.calls = 0  # type: ignore[attr-defined]
    await cache.get_or_fetch("k", fetch)
    clock.advance(2.9)
    assert (await cache.get_or_fetch("k", fetch)).status == "hit"
    clock.advance(0.1)
    assert (await cache.get_or_fetch("k", fetch)).status == "miss"
    assert fetch.calls == 2  # type: ignore[attr-defined]
    await cache.aclose()


async def test_invalidate_forgets(cache: Cache) -> None:
    upstream = Upstream()
    await cache.get_or_fetch("k", upstream)
    await cache.invalidate("k")
    assert (await cache.get_or_fetch("k", upstream)).status == "miss"
    assert upstream.calls == 2


async def test_herd_on_a_cold_key_makes_one_upstream_call(cache: Cache) -> None:
    upstream = Upstream({"big": "value"}, delay=0.02)
    results = await asyncio.gather(*(cache.get_or_fetch("cold", upstream) for _ in range(100)))
    assert upstream.calls == 1
    statuses = [r.status for r in results]
    assert statuses.count("miss") == 1 and statuses.count("coalesced") == 99
    assert cache.stats.upstream_calls == 1 and cache.stats.coalesced == 99


async def test_herd_shares_the_failure(cache: Cache) -> None:
    upstream = Upstream(delay=0.02)
    upstream.error = ConnectionError("down")
    results = await asyncio.gather(
        *(cache.get_or_fetch("k", upstream) for _ in range(20)), return_exceptions=True
    )
    assert upstream.calls == 1 and all(r is upstream.error for r in results)


async def test_cancelled_waiters_do_not_cancel_the_shared_fetch(cache: Cache) -> None:
    upstream = Upstream("v", delay=0.05)
    tasks = [asyncio.create_task(cache.get_or_fetch("k", upstream)) for _ in range(10)]
    await upstream.started.wait()
    tasks[0].cancel()  # the leader
    tasks[5].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    served = [r for r in results if isinstance(r, CacheResult)]
    assert len(served) == 8 and {r.value for r in served} == {"v"}
    assert upstream.calls == 1
    assert (await cache.get_or_fetch("k", upstream)).status == "hit"


async def test_unshared_uncacheable_result_is_fetched_per_caller(cache: Cache) -> None:
    calls = 0

    async def fetch() -> CacheEntry[int]:
        nonlocal calls
        calls += 1
        mine = calls
        await asyncio.sleep(0.01)
        return CacheEntry(mine, cache_control="private")

    results = await asyncio.gather(
        *(cache.get_or_fetch("k", fetch, share_uncacheable=False) for _ in range(5))
    )
    assert sorted(r.value for r in results) == [1, 2, 3, 4, 5]  # nobody got another's value
    assert {r.status for r in results} == {"miss"}


async def test_private_result_is_never_shared_even_when_sharing(cache: Cache) -> None:
    calls = 0

    async def fetch() -> CacheEntry[int]:
        nonlocal calls
        calls += 1
        mine = calls
        await asyncio.sleep(0.01)
        return CacheEntry(mine, cache_control="no-store" if mine % 2 else "private")

    results = await asyncio.gather(*(cache.get_or_fetch("k", fetch) for _ in range(4)))
    assert sorted(r.value for r in results) == [1, 2, 3, 4]


async def test_uncacheable_but_public_result_is_shared_by_default(cache: Cache) -> None:
    upstream = Upstream(delay=0.01)

    async def fetch() -> CacheEntry[str]:
        await upstream()
        return CacheEntry("same for all", cache_control="no-cache")

    results = await asyncio.gather(*(cache.get_or_fetch("k", fetch) for _ in range(5)))
    assert upstream.calls == 1 and {r.value for r in results} == {"same for all"}


async def test_unshared_cacheable_result_is_still_coalesced(cache: Cache) -> None:
    upstream = Upstream("public", delay=0.01)
    results = await asyncio.gather(
        *(cache.get_or_fetch("k", upstream, share_uncacheable=False) for _ in range(5))
    )
    assert upstream.calls == 1 and {r.value for r in results} == {"public"}


async def test_value_that_cannot_be_encoded_stays_in_l1(cache: Cache) -> None:
    marker = object()
    upstream = Upstream(marker)
    await cache.get_or_fetch("k", upstream)
    assert (await cache.get_or_fetch("k", upstream)).value is marker


async def test_l1_stays_within_its_byte_budget(clock: FakeClock) -> None:
    cache = Cache(clock=clock, l1_max_bytes=100_000)
    for i in range(200):
        await cache.set(f"k{i}", b"x" * 2_000)
    assert cache.l1.bytes <= 100_000 and len(cache.l1) < 200
    assert await cache.get("k199") and not await cache.get("k0")
    await cache.aclose()


async def test_aclose_cancels_background_refresh(clock: FakeClock) -> None:
    cache = Cache(clock=clock, default_ttl=1, stale_ttl=60)
    upstream = Upstream("v")
    await cache.get_or_fetch("k", upstream)
    clock.advance(2)
    upstream.delay = 10
    assert (await cache.get_or_fetch("k", upstream)).status == "stale"
    await asyncio.sleep(0.01)
    await cache.aclose()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    with pytest.raises(RuntimeError):
        await cache.get_or_fetch("other", upstream)


def test_key_for_is_the_policy_key() -> None:
    key = Cache.key_for("GET", "/u?b=1&a=2", {"Accept": "json"}, vary=["accept"])
    assert key == Cache.key_for("get", "/u?a=2&b=1", {"accept": "json"}, vary=["Accept"])


@pytest.mark.parametrize("bad", [{"default_ttl": -1}, {"negative_ttl": -1}, {"lock_ttl": 0}])
def test_bad_settings_raise(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Cache(**bad)  # type: ignore[arg-type]
