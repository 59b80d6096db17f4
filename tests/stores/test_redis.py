"""RedisStore against the real Redis: values, TTLs, atomic scripts, and a dead server."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from scallion.stores import Store, StoreError, StoreUnavailable
from scallion.stores.redis import RedisStore

from .conftest import REDIS_URL


def test_redis_store_satisfies_the_protocol() -> None:
    assert isinstance(RedisStore(REDIS_URL), Store)


async def test_set_get_delete(redis_store: RedisStore) -> None:
    assert await redis_store.get("a") is None
    await redis_store.set("a", b"\x00\xffbin")
    await redis_store.set("b", "text")
    assert await redis_store.get("a") == b"\x00\xffbin"
    assert await redis_store.get("b") == b"text"
    assert await redis_store.exists("a")
    await redis_store.delete("a")
    assert not await redis_store.exists("a")


async def test_keys_live_under_the_prefix(redis_store: RedisStore, redis_prefix: str) -> None:
    await redis_store.set("k", b"v")
    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        assert await raw.get(redis_prefix + "k") == b"v"
    finally:
        await raw.aclose()


async def test_ttl_and_expires_in(redis_store: RedisStore) -> None:
    await redis_store.set("k", b"v", ttl=10)
    await redis_store.set("forever", b"v")
    left = await redis_store.expires_in("k")
    assert left is not None and 9 < left <= 10
    assert await redis_store.expires_in("forever") is None
    assert await redis_store.expires_in("missing") is None
    await redis_store.set("short", b"v", ttl=0.05)
    await asyncio.sleep(0.1)
    assert await redis_store.get("short") is None
    with pytest.raises(ValueError):
        await redis_store.set("k", b"v", ttl=0)


async def test_delete_all_by_prefix_escapes_glob_characters(redis_store: RedisStore) -> None:
    await redis_store.set("s[1]:a", b"x")
    await redis_store.set("s1:a", b"x")
    await redis_store.set("other", b"x")
    for i in range(1200):  # more than one SCAN/UNLINK batch
        await redis_store.set(f"bulk:{i}", b"x")
    await redis_store.delete_all("s[1]:")
    assert not await redis_store.exists("s[1]:a")
    assert await redis_store.exists("s1:a")
    await redis_store.delete_all("bulk:")
    assert not await redis_store.exists("bulk:7")
    await redis_store.clear()
    assert not await redis_store.exists("other")


async def test_clear_leaves_other_prefixes_alone(redis_store: RedisStore) -> None:
    neighbour = RedisStore(REDIS_URL, prefix=redis_store.prefix + "x")
    await neighbour.set("k", b"v")
    try:
        await redis_store.set("x", b"v")
        other = RedisStore(REDIS_URL, prefix=redis_store.prefix[:-1] + "-other:")
        await other.set("k", b"v")
        await redis_store.clear()
        assert await other.get("k") == b"v"
        await other.clear()
        await other.close()
    finally:
        await neighbour.clear()
        await neighbour.close()


async def test_incr_with_ttl_on_first_hit_only(redis_store: RedisStore) -> None:
    assert await redis_store.incr("c", ttl=10) == 1
    assert await redis_store.incr("c", 5, ttl=100) == 6
    left = await redis_store.expires_in("c")
    assert left is not None and left <= 10
    assert await redis_store.incr("plain") == 1
    assert await redis_store.expires_in("plain") is None
    await redis_store.set("garbage", b"abc")
    with pytest.raises(StoreError):
        await redis_store.incr("garbage")


async def test_incr_is_atomic_under_concurrency(redis_store: RedisStore) -> None:
    values = await asyncio.gather(*(redis_store.incr("n", ttl=30) for _ in range(200)))
    assert sorted(values) == list(range(1, 201))


async def test_set_if_absent_one_winner(redis_store: RedisStore) -> None:
    other = RedisStore(REDIS_URL, prefix=redis_store.prefix)
    try:
        calls = [s.set_if_absent("lock", b"me", ttl=5) for s in (redis_store, other) * 25]
        results = await asyncio.gather(*calls)
        assert results.count(True) == 1
        assert await redis_store.get("lock") == b"me"
    finally:
        await other.close()


async def test_sliding_window_limits_and_reports(redis_store: RedisStore) -> None:
    results = [await redis_store.sliding_window_hit("ip", 3, 10) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert 9 < results[3].reset_after <= 10
    left = await redis_store.expires_in("ip")
    assert left is not None and left <= 10


async def test_sliding_window_with_explicit_now_slides(redis_store: RedisStore) -> None:
    hit = redis_store.sliding_window_hit
    assert (await hit("k", 2, 10, now=100.0)).allowed
    assert (await hit("k", 2, 10, now=106.0)).allowed
    denied = await hit("k", 2, 10, now=108.0)
    assert not denied.allowed
    assert denied.reset_after == pytest.approx(2)
    again = await hit("k", 2, 10, now=110.0)
    assert again.allowed
    assert again.reset_after == pytest.approx(6)


async def test_sliding_window_burst_across_two_pools_is_exact(redis_store: RedisStore) -> None:
    other = RedisStore(REDIS_URL, prefix=redis_store.prefix)
    try:
        stores = (redis_store, other)
        calls = [stores[i % 2].sliding_window_hit("burst", 50, 60) for i in range(200)]
        results = await asyncio.gather(*calls)
        assert sum(r.allowed for r in results) == 50
        assert sorted(r.remaining for r in results if r.allowed) == list(range(50))
    finally:
        await other.close()


async def test_gcra_burst_then_denied(redis_store: RedisStore) -> None:
    results = [await redis_store.gcra_hit("g", 10, 60.0, burst=5) for _ in range(6)]
    assert [r.allowed for r in results] == [True] * 5 + [False]
    assert [r.remaining for r in results] == [4, 3, 2, 1, 0, 0]
    assert 5.9 < results[5].retry_after <= 6.0
    assert 29.9 < results[5].reset_after <= 30.0
    left = await redis_store.expires_in("g")
    assert left is not None and 29 < left <= 30


async def test_gcra_refills_over_time(redis_store: RedisStore) -> None:
    for _ in range(2):
        assert (await redis_store.gcra_hit("r", 20, 1.0, burst=2)).allowed
    denied = await redis_store.gcra_hit("r", 20, 1.0, burst=2)
    assert not denied.allowed
    await asyncio.sleep(denied.retry_after + 0.01)
    assert (await redis_store.gcra_hit("r", 20, 1.0, burst=2)).allowed


async def test_gcra_burst_across_two_pools_is_exact(redis_store: RedisStore) -> None:
    other = RedisStore(REDIS_URL, prefix=redis_store.prefix)
    try:
        stores = (redis_store, other)
        calls = [stores[i % 2].gcra_hit("burst", 50, 3600) for i in range(200)]
        results = await asyncio.gather(*calls)
        assert sum(r.allowed for r in results) == 50
    finally:
        await other.close()


async def test_scripts_reload_after_script_flush(redis_store: RedisStore) -> None:
    assert await redis_store.incr("c") == 1
    raw = aioredis.Redis.from_url(REDIS_URL)
    try:
        await raw.script_flush()
    finally:
        await raw.aclose()
    assert await redis_store.incr("c") == 2  # NOSCRIPT -> loaded again
    assert (await redis_store.sliding_window_hit("w", 1, 10)).allowed


async def test_a_given_client_is_not_closed_by_the_store(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    store = RedisStore(client, prefix=redis_prefix)
    await store.set("k", b"v")
    await store.close()
    assert await client.get(redis_prefix + "k") == b"v"
    await store.clear()
    await client.aclose()


async def test_dead_server_raises_store_unavailable_quickly() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", timeout=0.2)
    started = time.monotonic()
    for op in (
        store.get("k"),
        store.set("k", b"v", ttl=1),
        store.incr("k", ttl=1),
        store.sliding_window_hit("k", 5, 1),
        store.gcra_hit("k", 5, 1),
        store.set_if_absent("k", b"v"),
        store.delete_all(),
    ):
        with pytest.raises(StoreUnavailable):
            await op
    assert time.monotonic() - started < 2.0
    await store.close()


async def test_unroutable_server_times_out_as_store_unavailable() -> None:
    # A listening socket that never answers: connect succeeds, the read times out.
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable):
            await store.get("k")
        assert time.monotonic() - started < 2.0
    finally:
        await store.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
