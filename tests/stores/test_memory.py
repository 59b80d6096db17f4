"""MemoryStore: values, TTLs, LRU bounds and atomic rate limit primitives."""

from __future__ import annotations

import asyncio

import pytest

from scallion.stores import MemoryStore, Store, StoreError

from .conftest import FakeClock


def make(clock: FakeClock, max_entries: int = 100) -> MemoryStore:
    return MemoryStore(max_entries, clock=clock)


def test_memory_store_satisfies_the_protocol() -> None:
    assert isinstance(MemoryStore(), Store)


async def test_set_get_delete(clock: FakeClock) -> None:
    store = make(clock)
    assert await store.get("a") is None
    await store.set("a", b"1")
    await store.set("b", "text")
    assert await store.get("a") == b"1"
    assert await store.get("b") == b"text"
    assert await store.exists("a")
    await store.delete("a")
    await store.delete("missing")
    assert await store.get("a") is None
    assert not await store.exists("a")


async def test_ttl_expiry_and_expires_in(clock: FakeClock) -> None:
    store = make(clock)
    await store.set("k", b"v", ttl=10)
    await store.set("forever", b"v")
    assert await store.expires_in("k") == pytest.approx(10)
    assert await store.expires_in("forever") is None
    assert await store.expires_in("missing") is None
    clock.advance(9.5)
    assert await store.get("k") == b"v"
    assert await store.expires_in("k") == pytest.approx(0.5)
    clock.advance(0.5)
    assert await store.get("k") is None
    assert not await store.exists("k")
    assert await store.get("forever") == b"v"


async def test_set_overwrites_ttl(clock: FakeClock) -> None:
    store = make(clock)
    await store.set("k", b"1", ttl=1)
    await store.set("k", b"2")
    clock.advance(5)
    assert await store.get("k") == b"2"


async def test_invalid_ttl_is_rejected(clock: FakeClock) -> None:
    store = make(clock)
    with pytest.raises(ValueError):
        await store.set("k", b"v", ttl=0)
    with pytest.raises(ValueError):
        await store.set("k", b"v", ttl=-1)


async def test_lru_eviction_keeps_recently_used(clock: FakeClock) -> None:
    store = make(clock, max_entries=3)
    for key in "abc":
        await store.set(key, key.encode())
    await store.get("a")  # a is now the most recently used
    await store.set("d", b"d")
    assert len(store) == 3
    assert await store.get("b") is None
    assert await store.get("a") == b"a"
    assert await store.get("d") == b"d"


async def test_expired_entries_are_purged_without_being_read(clock: FakeClock) -> None:
    store = make(clock, max_entries=1000)
    for i in range(500):
        await store.set(f"k{i}", b"v", ttl=1)
    clock.advance(2)
    await store.set("fresh", b"v")
    assert len(store) == 1


async def test_expiry_heap_stays_bounded(clock: FakeClock) -> None:
    store = make(clock, max_entries=10)
    for _ in range(10_000):
        await store.set("hot", b"v", ttl=100)
    assert len(store._expiries) <= 2 * len(store) + 64


async def test_delete_all_by_prefix_and_clear(clock: FakeClock) -> None:
    store = make(clock)
    await store.set("sess:1", b"x")
    await store.set("sess:2", b"x")
    await store.set("rl:1", b"x")
    await store.delete_all("sess:")
    assert not await store.exists("sess:1")
    assert await store.exists("rl:1")
    await store.clear()
    assert len(store) == 0


async def test_incr_creates_counts_and_keeps_first_ttl(clock: FakeClock) -> None:
    store = make(clock)
    assert await store.incr("c", ttl=10) == 1
    clock.advance(5)
    assert await store.incr("c", 2, ttl=10) == 3
    assert await store.get("c") == b"3"
    assert await store.expires_in("c") == pytest.approx(5)  # the window started at the 1st hit
    clock.advance(5)
    assert await store.incr("c", ttl=10) == 1


async def test_incr_on_a_stored_number_and_on_garbage(clock: FakeClock) -> None:
    store = make(clock)
    await store.set("n", b"41")
    assert await store.incr("n") == 42
    await store.set("g", b"abc")
    with pytest.raises(StoreError):
        await store.incr("g")


async def test_set_if_absent_is_a_lock(clock: FakeClock) -> None:
    store = make(clock)
    results = await asyncio.gather(*(store.set_if_absent("lock", b"me", ttl=5) for _ in range(50)))
    assert results.count(True) == 1
    clock.advance(5)
    assert await store.set_if_absent("lock", b"again", ttl=5)


async def test_sliding_window_allows_limit_then_denies(clock: FakeClock) -> None:
    store = make(clock)
    results = [await store.sliding_window_hit("ip", 3, 10) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert results[3].reset_after == pytest.approx(10)
    clock.advance(4)
    denied = await store.sliding_window_hit("ip", 3, 10)
    assert not denied.allowed
    assert denied.reset_after == pytest.approx(6)


async def test_sliding_window_slides(clock: FakeClock) -> None:
    store = make(clock)
    await store.sliding_window_hit("ip", 2, 10)
    clock.advance(6)
    await store.sliding_window_hit("ip", 2, 10)
    assert not (await store.sliding_window_hit("ip", 2, 10)).allowed
    clock.advance(4)  # the first hit leaves the window, one slot frees
    hit = await store.sliding_window_hit("ip", 2, 10)
    assert hit.allowed
    assert hit.remaining == 0
    assert hit.reset_after == pytest.approx(6)


async def test_sliding_window_explicit_now(clock: FakeClock) -> None:
    store = make(clock)
    assert (await store.sliding_window_hit("k", 1, 1, now=5.0)).allowed
    assert not (await store.sliding_window_hit("k", 1, 1, now=5.5)).allowed
    assert (await store.sliding_window_hit("k", 1, 1, now=6.0)).allowed


async def test_sliding_window_concurrent_burst_is_exact(clock: FakeClock) -> None:
    store = make(clock)
    results = await asyncio.gather(*(store.sliding_window_hit("b", 50, 60) for _ in range(200)))
    assert sum(r.allowed for r in results) == 50
    assert sorted(r.remaining for r in results if r.allowed) == list(range(50))


async def test_rate_args_are_checked(clock: FakeClock) -> None:
    store = make(clock)
    with pytest.raises(ValueError):
        await store.sliding_window_hit("k", 0, 10)
    with pytest.raises(ValueError):
        await store.sliding_window_hit("k", 1, 0)
    with pytest.raises(ValueError):
        await store.gcra_hit("k", 1, 1, burst=0)


async def test_gcra_burst_then_steady_rate(clock: FakeClock) -> None:
    store = make(clock)
    # 10 per second, bursts of 5
    results = [await store.gcra_hit("g", 10, 1.0, burst=5) for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0]
    assert results[5].retry_after == pytest.approx(0.1)
    assert results[4].reset_after == pytest.approx(0.5)
    clock.advance(0.1)
    assert (await store.gcra_hit("g", 10, 1.0, burst=5)).allowed
    assert not (await store.gcra_hit("g", 10, 1.0, burst=5)).allowed
    clock.advance(1.0)  # the bucket refills completely
    hit = await store.gcra_hit("g", 10, 1.0, burst=5)
    assert hit.allowed
    assert hit.remaining == 4


async def test_gcra_default_burst_is_limit(clock: FakeClock) -> None:
    store = make(clock)
    results = [await store.gcra_hit("g", 3, 60) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[3].retry_after == pytest.approx(20)


async def test_gcra_concurrent_burst_is_exact(clock: FakeClock) -> None:
    store = make(clock)
    results = await asyncio.gather(*(store.gcra_hit("b", 50, 60) for _ in range(200)))
    assert sum(r.allowed for r in results) == 50


async def test_reading_a_rate_window_as_a_value_is_an_error(clock: FakeClock) -> None:
    store = make(clock)
    await store.sliding_window_hit("w", 5, 10)
    with pytest.raises(StoreError):
        await store.get("w")
    await store.gcra_hit("g", 5, 10)
    assert float(await store.get("g") or b"0") > 0
