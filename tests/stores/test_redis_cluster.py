"""RedisStore on a real three-master Redis Cluster: URLs, every operation, slots, faults."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from _redis_cluster import ClusterProcesses, command, free_cluster_ports
from redis.asyncio.cluster import ClusterNode, RedisCluster

from scallion.stores import Store, StoreUnavailable
from scallion.stores import redis as redis_module
from scallion.stores._urls import is_cluster_url, parse_cluster_url
from scallion.stores.redis import RedisStore

from .conftest import REDIS_URL

# -- the URL form (no server needed) ------------------------------------------------------


def test_cluster_url_names_every_seed_node_and_keeps_the_options() -> None:
    parsed = parse_cluster_url(
        "rediss+cluster://app:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002,[::2]/0?socket_timeout=2"
    )
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002), ("::2", 6379))
    assert parsed.node_url == "rediss://app:s%40cret@10.0.0.1:7000/0?socket_timeout=2"
    assert parse_cluster_url("redis+cluster://h:1/").nodes == (("h", 1),)
    assert parse_cluster_url("REDIS+CLUSTER://h:1").node_url == "redis://h:1/0"
    assert is_cluster_url("rediss+cluster://h:1")
    assert not is_cluster_url("redis://h:1/0")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster:///", "no cluster nodes"),
        ("redis+cluster://,,", "no cluster nodes"),
        ("redis+cluster://h:1/3", "only database 0"),
        ("redis+cluster://[::1]x", "bad cluster node"),
        ("redis+cluster://h:1/0/x", "only database 0"),
        ("redis+cluster://h:70000", "bad port"),
        ("redis+cluster://h:x", "bad port"),
        ("redis+cluster://:7000", "bad cluster node"),
        ("redis+cluster://[::1", "unclosed"),
        ("redis+cluster://h:1#frag", "unexpected '#'"),
        ("redis://h:1/0", "not a redis+cluster"),
    ],
)
def test_bad_cluster_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_cluster_url(url)
    if is_cluster_url(url):
        with pytest.raises(ValueError, match=re.escape(reason)):
            RedisStore(url)


def test_a_client_of_another_kind_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="RedisCluster, not object"):
        RedisStore(object())  # type: ignore[arg-type]


def test_cluster_options_come_from_the_url() -> None:
    store = RedisStore("rediss+cluster://u:p@127.0.0.1:7000,127.0.0.1:7001/?socket_timeout=3")
    assert isinstance(store.client, RedisCluster) and store.cluster
    assert [n.name for n in store.client.startup_nodes] == ["127.0.0.1:7000", "127.0.0.1:7001"]
    kwargs = store.client.connection_kwargs
    assert kwargs["socket_timeout"] == 3.0  # the URL wins over the store's timeout
    assert kwargs["socket_connect_timeout"] == 1.0
    assert (kwargs["username"], kwargs["password"]) == ("u", "p")
    assert kwargs["connection_class"].__name__ == "SSLConnection"
    assert repr(store) == "RedisStore(prefix='scallion:', cluster)"


# -- against the cluster ------------------------------------------------------------------


@pytest.fixture
async def cluster_store(redis_cluster: ClusterProcesses) -> AsyncIterator[RedisStore]:
    store = RedisStore(redis_cluster.url, prefix=f"scallion-test:{uuid.uuid4().hex}:")
    yield store
    await store.clear()
    await store.close()


def node_keys(cluster: ClusterProcesses, pattern: str) -> dict[int, int]:
    """How many keys matching ``pattern`` each node holds (SCAN on every node)."""
    found: dict[int, int] = {}
    for port in cluster.ports:
        count, cursor = 0, "0"
        while True:
            reply = _scan(port, cursor, pattern)
            cursor, keys = reply
            count += len(keys)
            if cursor == "0":
                break
        found[port] = count
    return found


def _scan(port: int, cursor: str, pattern: str) -> tuple[str, list[bytes]]:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        next_cursor, keys = client.scan(int(cursor), match=pattern, count=1000)
        return str(next_cursor), list(keys)
    finally:
        client.close()


def test_cluster_store_satisfies_the_protocol(redis_cluster: ClusterProcesses) -> None:
    assert isinstance(RedisStore(redis_cluster.url), Store)


async def test_every_operation_on_the_cluster(cluster_store: RedisStore) -> None:
    s = cluster_store
    await s.set("a", b"\x00\xffbin", ttl=10)
    await s.set("b", "text")
    assert (await s.get("a"), await s.get("b")) == (b"\x00\xffbin", b"text")
    assert await s.exists("a") and not await s.exists("missing")
    left = await s.expires_in("a")
    assert left is not None and 9 < left <= 10
    assert await s.expires_in("b") is None
    await s.delete("a")
    assert await s.get("a") is None
    assert await s.incr("n", ttl=30) == 1
    assert await s.incr("n", 4) == 5
    assert await s.set_if_absent("lock", b"me", ttl=5)
    assert not await s.set_if_absent("lock", b"you", ttl=5)
    hits = [await s.sliding_window_hit("ip", 2, 10) for _ in range(3)]
    assert [h.allowed for h in hits] == [True, True, False]
    g = [await s.gcra_hit("g", 10, 60.0, burst=2) for _ in range(3)]
    assert [h.allowed for h in g] == [True, True, False]
    assert 5.9 < g[2].retry_after <= 6.0


async def test_concurrent_atomic_operations_across_two_clients_are_exact(
    redis_cluster: ClusterProcesses, cluster_store: RedisStore
) -> None:
    other = RedisStore(redis_cluster.url, prefix=cluster_store.prefix)
    try:
        stores = (cluster_store, other)
        counted = await asyncio.gather(*(stores[i % 2].incr("n") for i in range(200)))
        assert sorted(counted) == list(range(1, 201))
        sliding = await asyncio.gather(
            *(stores[i % 2].sliding_window_hit("w", 50, 60) for i in range(200))
        )
        assert sum(r.allowed for r in sliding) == 50
        gcra = await asyncio.gather(*(stores[i % 2].gcra_hit("g", 50, 3600) for i in range(200)))
        assert sum(r.allowed for r in gcra) == 50
        locks = await asyncio.gather(
            *(stores[i % 2].set_if_absent("lock", b"x", ttl=5) for i in range(50))
        )
        assert locks.count(True) == 1
    finally:
        await other.close()


async def test_a_burst_beyond_max_connections_waits_instead_of_failing(
    redis_cluster: ClusterProcesses, cluster_store: RedisStore
) -> None:
    # redis-py's cluster pool raises at max_connections; the store's gate queues instead.
    small = RedisStore(redis_cluster.url, prefix=cluster_store.prefix, max_connections=2)
    try:
        values = await asyncio.gather(*(small.incr(f"k{i % 7}") for i in range(300)))
        assert sum(1 for v in values if v >= 1) == 300
        assert sorted(values)[-1] == 43  # 300 hits over 7 keys: 43 on the busiest
    finally:
        await small.close()


async def test_keys_spread_over_every_master_and_delete_all_reaches_them(
    redis_cluster: ClusterProcesses, cluster_store: RedisStore
) -> None:
    for i in range(300):
        await cluster_store.set(f"bulk:{i}", b"x")
    await cluster_store.set("s[1]:a", b"x")
    await cluster_store.set("keep", b"x")
    spread = node_keys(redis_cluster, cluster_store.prefix + "bulk:*")
    assert sum(spread.values()) == 300
    assert all(n > 50 for n in spread.values()), spread  # all three masters hold some
    await cluster_store.delete_all("bulk:")  # SCAN on every master, UNLINK per slot
    assert sum(node_keys(redis_cluster, cluster_store.prefix + "bulk:*").values()) == 0
    await cluster_store.delete_all("s[1]:")
    assert not await cluster_store.exists("s[1]:a") and await cluster_store.exists("keep")
    await cluster_store.clear()
    assert sum(node_keys(redis_cluster, cluster_store.prefix + "*").values()) == 0


async def test_scripts_reload_after_script_flush_on_every_node(
    redis_cluster: ClusterProcesses, cluster_store: RedisStore
) -> None:
    assert await cluster_store.incr("c") == 1
    for port in redis_cluster.ports:
        command(port, "SCRIPT", "FLUSH")
    assert await cluster_store.incr("c") == 2  # NOSCRIPT -> SCRIPT LOAD -> EVALSHA again
    for i in range(30):  # keys on every node: each node gets the script again
        assert (await cluster_store.sliding_window_hit(f"w{i}", 1, 10)).allowed
        assert (await cluster_store.gcra_hit(f"g{i}", 1, 10)).allowed


def test_every_script_touches_exactly_one_key() -> None:
    # A script that touched two keys would need them in one slot (a shared hash tag);
    # today each reads and writes KEYS[1] only, so any key layout works on a cluster.
    scripts = [
        v for k, v in vars(redis_module).items() if k.startswith("_") and "redis.call" in str(v)
    ]
    assert len(scripts) == 3
    for source in scripts:
        assert set(re.findall(r"KEYS\[(\d+)\]", source)) == {"1"}


async def test_client_text_cannot_pick_the_slot(
    redis_cluster: ClusterProcesses, cluster_store: RedisStore
) -> None:
    probe = redis_cluster.ports[0]
    tagged = [f"path:/items/{{evil}}/{i}" for i in range(60)]
    slots = set()
    for key in tagged:
        await cluster_store.set(key, key)
        name = cluster_store.name(key)
        assert name == cluster_store.prefix + key.replace("{", "{}", 1)
        slots.add(int(command(probe, "CLUSTER", "KEYSLOT", name)))
    assert int(command(probe, "CLUSTER", "KEYSLOT", "evil")) not in slots
    assert len(slots) > 50  # hashed whole: spread, not piled on the tag's slot
    for key in tagged:
        assert await cluster_store.get(key) == key.encode()
    # Distinct keys stay distinct even when one already holds the empty tag.
    await cluster_store.set("x{a}", b"1")
    await cluster_store.set("x{}a}", b"2")
    assert (await cluster_store.get("x{a}"), await cluster_store.get("x{}a}")) == (b"1", b"2")
    await cluster_store.delete_all("path:/items/{evil}/")
    assert not any([await cluster_store.exists(k) for k in tagged])
    assert await cluster_store.exists("x{a}")


async def test_a_prefix_with_its_own_tag_pins_every_key_to_one_slot(
    redis_cluster: ClusterProcesses,
) -> None:
    tag = f"pinned-{uuid.uuid4().hex}"
    store = RedisStore(redis_cluster.url, prefix=f"{{{tag}}}:")
    probe = redis_cluster.ports[0]
    try:
        for i in range(10):
            await store.incr(f"n{i}")
            await store.set(f"user{{x}}{i}", b"v")
        names = [store.name(f"n{i}") for i in range(10)] + [store.name("user{x}1")]
        assert store.name("user{x}1") == f"{{{tag}}}:user{{x}}1"  # left as the operator wrote
        slots = {int(command(probe, "CLUSTER", "KEYSLOT", n)) for n in names}
        assert slots == {int(command(probe, "CLUSTER", "KEYSLOT", tag))}
    finally:
        await store.clear()
        await store.close()
    assert sum(node_keys(redis_cluster, f"{{{tag}}}:*").values()) == 0


async def test_single_node_key_layout_is_unchanged() -> None:
    store = RedisStore(REDIS_URL, prefix="p:")
    assert not store.cluster
    assert store.name("path:/items/{evil}/1") == "p:path:/items/{evil}/1"
    await store.close()


async def test_a_ready_cluster_client_is_used_and_not_closed(
    redis_cluster: ClusterProcesses,
) -> None:
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", redis_cluster.ports[1])])
    prefix = f"scallion-test:{uuid.uuid4().hex}:"
    store = RedisStore(client, prefix=prefix)
    assert store.cluster
    await store.set("k", b"v")
    assert (await store.sliding_window_hit("w", 1, 10)).allowed
    await store.close()
    assert await client.get(prefix + "k") == b"v"  # still open
    await RedisStore(client, prefix=prefix).clear()
    await client.aclose()


async def test_unreachable_cluster_raises_store_unavailable_quickly() -> None:
    ports = free_cluster_ports(2)
    store = RedisStore(f"redis+cluster://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}", timeout=0.2)
    started = time.monotonic()
    for op in (
        store.get("k"),
        store.set("k", b"v", ttl=1),
        store.incr("k", ttl=1),
        store.sliding_window_hit("k", 5, 1),
        store.gcra_hit("k", 5, 1),
        store.set_if_absent("k", b"v"),
        store.expires_in("k"),
        store.delete_all(),
    ):
        with pytest.raises(StoreUnavailable):
            await op
    assert time.monotonic() - started < 3.0
    await store.close()


async def test_a_plain_redis_behind_a_cluster_url_is_unavailable_not_a_crash() -> None:
    store = RedisStore("redis+cluster://" + REDIS_URL.split("//", 1)[1].split("/", 1)[0])
    with pytest.raises(StoreUnavailable, match=r"[Cc]luster"):
        await store.get("k")
    await store.close()


def test_the_cluster_fixture_fails_loudly_without_redis_binaries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="redis-server and redis-cli not found on PATH"):
        ClusterProcesses()


async def test_a_burst_on_a_silent_cluster_shares_one_timeout() -> None:
    # Seed nodes that accept connections and never answer: loading the layout times out.
    # Callers queued behind that attempt share its failure instead of each waiting in turn.
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis+cluster://127.0.0.1:{port}", timeout=0.2)
    started = time.monotonic()
    try:
        results = await asyncio.gather(
            *(store.incr(f"k{i}") for i in range(50)), return_exceptions=True
        )
        assert all(isinstance(r, StoreUnavailable) for r in results), results[:3]
        assert time.monotonic() - started < 3.0  # one 0.2 s timeout, not fifty in a row
    finally:
        await store.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_prepare_loads_the_layout_and_every_script_up_front(
    redis_cluster: ClusterProcesses,
) -> None:
    import hashlib

    import redis

    for port in redis_cluster.ports:
        command(port, "SCRIPT", "FLUSH")
    store = RedisStore(redis_cluster.url)
    assert isinstance(store.client, RedisCluster)
    assert store.client.get_default_node() is None
    await store.prepare()
    assert store.client.get_default_node() is not None
    shas = [
        hashlib.sha1(source.encode()).hexdigest()
        for source in (redis_module._INCR, redis_module._SLIDING, redis_module._GCRA)
    ]
    for port in redis_cluster.ports:
        node = redis.Redis(host="127.0.0.1", port=port)
        try:
            assert node.script_exists(*shas) == [True, True, True]
        finally:
            node.close()
    await store.close()


async def test_prepare_on_one_redis_and_on_nothing() -> None:
    single = RedisStore(REDIS_URL)
    await single.prepare()  # a PING
    await single.close()
    port = free_cluster_ports(1)[0]
    for url in (f"redis://127.0.0.1:{port}/0", f"redis+cluster://127.0.0.1:{port}"):
        dead = RedisStore(url, timeout=0.2)
        with pytest.raises(StoreUnavailable):
            await dead.prepare()
        await dead.close()
