"""A ``Store`` on Redis (``redis.asyncio``), shared by every worker and every machine.

The atomic operations are Lua scripts run with EVALSHA (loaded again on NOSCRIPT), each one
round trip and one critical section on the server. Rate limit scripts read the time with
Redis ``TIME``, so gateways whose clocks disagree still agree on the window.

Connection problems (refused, timed out, dropped) raise ``StoreUnavailable`` so callers can
degrade; a store built from a URL uses short timeouts and no client-side retries, so a dead
Redis costs a request milliseconds, not seconds. Install with ``pip install scallion[redis]``.

Redis Cluster: a ``redis+cluster://host:port[,host:port]`` URL or a ready
``redis.asyncio.cluster.RedisCluster``. Every script and command touches one key, so each
runs on the node that owns that key's slot and nothing needs a hash tag. What the store does
add on a cluster: text a client controls (a path in a cache key, a user name in a rate limit
key) must not choose the slot through a ``{tag}`` of its own, so a name whose hashed part
would contain ``{`` gets an empty tag (``{}``) right after its first ``{`` and is hashed
whole. A ``prefix`` with a tag of its own (``"{shop}:"``) pins every key to that tag's slot,
as the operator asked.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._urls import is_cluster_url, parse_cluster_url
from .base import (
    GcraResult,
    SlidingWindowResult,
    StoreError,
    StoreUnavailable,
    check_rate_args,
    gcra_interval_us,
)

try:
    import redis.asyncio as aioredis
    from redis import exceptions as redis_errors
    from redis.asyncio.cluster import ClusterNode, RedisCluster
    from redis.asyncio.connection import SSLConnection, parse_url
    from redis.asyncio.retry import Retry as AsyncRetry
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("scallion.stores.redis needs redis: pip install 'scallion[redis]'") from exc

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["RedisStore"]

T = TypeVar("T")

_UNAVAILABLE = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    # A cluster with no reachable seed node, slots not covered, or failing over.
    redis_errors.RedisClusterException,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    OSError,
    asyncio.TimeoutError,
)

# KEYS[1] counter; ARGV amount, ttl in ms ("" for none). TTL only if the key has none yet.
_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
"""

# KEYS[1] sorted set of hit times; ARGV limit, window (s), now (s or ""), unique member.
# Returns {allowed, remaining, reset_after as a string (Lua numbers reply as integers)}.
_SLIDING = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = 0
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, limit - count, tostring(reset)}
"""

# KEYS[1] theoretical arrival time in integer microseconds (exact in Lua's doubles);
# ARGV interval (us), burst. Returns {allowed, remaining, retry_after_us, reset_after_us}.
_GCRA = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
"""

_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def _pins_slot(prefix: str) -> bool:
    """Whether ``prefix`` alone decides how Redis Cluster hashes every name it starts.

    Cluster hashes the text between the first ``{`` and the next ``}`` when there is one;
    a prefix holding both settles the question for every key after it.
    """
    start = prefix.find("{")
    return start >= 0 and prefix.find("}", start + 1) >= 0


def _hash_whole(name: str) -> str:
    """``name`` with ``}`` inserted after its first ``{``: that empty tag makes Redis Cluster
    hash the whole name. One-to-one (always inserted), so distinct keys stay distinct, and
    ``_hash_whole(p + rest) == _hash_whole(p) + rest`` whenever ``p`` holds a ``{`` (so a
    ``SCAN`` pattern built the same way finds every key under a prefix)."""
    start = name.find("{")
    if start < 0:
        return name
    return name[: start + 1] + "}" + name[start + 1 :]


def _cluster_from_url(url: str, timeout: float, max_connections: int) -> RedisCluster:
    """A ``RedisCluster`` on the seed nodes of a ``redis+cluster://`` URL, failing fast."""
    parsed = parse_cluster_url(url)
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "max_connections": max_connections,  # per node; the store's gate keeps below it
        "retry": AsyncRetry(NoBackoff(), 0),
    }
    options.update(parse_url(parsed.node_url))  # options in the URL win, as in redis-py
    for name in ("host", "port", "db"):
        options.pop(name, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    nodes = [ClusterNode(host, port) for host, port in parsed.nodes]
    return RedisCluster(startup_nodes=nodes, **options)


def _discard(op: Awaitable[object]) -> None:
    """Close an operation that will never run (no "coroutine was never awaited" warning)."""
    if inspect.iscoroutine(op):
        op.close()


async def _nothing() -> None:
    """An operation that only needs the client ready (``prepare`` on a cluster)."""


def _retrieved(task: asyncio.Task[None]) -> None:
    # A load whose every waiter left (timed out) must not log "exception never retrieved".
    if not task.cancelled():
        task.exception()


def _ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be > 0 seconds or None, got {ttl!r}")
    return max(1, int(ttl * 1000 + 0.5))


class RedisStore:
    """A ``Store`` on Redis or Redis Cluster; every key is stored under ``prefix``.

    Args:
        url_or_client: a ``redis://``, ``rediss://`` or ``unix://`` URL, a
            ``redis+cluster://host:port[,host:port]`` (``rediss+cluster://``) URL (the store
            owns and closes the client), or a ``redis.asyncio.Redis`` or
            ``redis.asyncio.cluster.RedisCluster`` you configured (you close it; it must
            not decode responses).
        prefix: namespaces this store's keys, so apps and features can share one Redis.
        timeout: socket connect and read timeout in seconds for a client built from a URL.
        max_connections: pool size for a client built from a URL (on a cluster: the most
            operations in flight at once, and the pool size per node); callers beyond it
            wait up to ``timeout`` for a connection.
    """

    __slots__ = (
        "_gate",
        "_gcra",
        "_incr",
        "_owns",
        "_preparing",
        "_scripts_loaded",
        "_seq",
        "_sliding",
        "_tag",
        "_timeout",
        "_whole",
        "client",
        "cluster",
        "prefix",
    )

    def __init__(
        self,
        url_or_client: str | aioredis.Redis | RedisCluster,
        prefix: str = "scallion:",
        *,
        timeout: float = 1.0,
        max_connections: int = 50,
    ) -> None:
        self._gate: asyncio.Semaphore | None = None
        self._timeout = timeout
        self._preparing: asyncio.Task[None] | None = None  # cluster: see _preparation
        self._scripts_loaded = False
        self.client: aioredis.Redis | RedisCluster
        if isinstance(url_or_client, str) and is_cluster_url(url_or_client):
            self.client = _cluster_from_url(url_or_client, timeout, max_connections)
            # redis-py's cluster pool fails at max_connections instead of waiting; the gate
            # makes a burst wait (up to ``timeout``) as the single-node pool does.
            self._gate = asyncio.Semaphore(max_connections)
            self._owns = True
        elif isinstance(url_or_client, str):
            # A blocking pool: a burst waits (up to ``timeout``) for a free connection instead
            # of failing with "Too many connections".
            pool = aioredis.BlockingConnectionPool.from_url(
                url_or_client,
                max_connections=max_connections,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
            )
            self.client = aioredis.Redis.from_pool(pool)
            self._owns = True
        elif isinstance(url_or_client, (aioredis.Redis, RedisCluster)):
            self.client = url_or_client
            self._owns = False
        else:
            raise TypeError(
                "RedisStore needs a Redis URL, a redis.asyncio.Redis or a "
                f"redis.asyncio.cluster.RedisCluster, not {type(url_or_client).__name__}"
            )
        self.prefix = prefix
        self.cluster = isinstance(self.client, RedisCluster)
        # On a cluster, names whose hashed part could come from a caller are hashed whole.
        self._whole = self.cluster and not _pins_slot(prefix)
        self._incr: AsyncScript = self.client.register_script(_INCR)
        self._sliding: AsyncScript = self.client.register_script(_SLIDING)
        self._gcra: AsyncScript = self.client.register_script(_GCRA)
        # Unique sorted-set members for hits that share a timestamp.
        self._tag = os.urandom(6).hex()
        self._seq = itertools.count()

    def __repr__(self) -> str:
        kind = ", cluster" if self.cluster else ""
        return f"RedisStore(prefix={self.prefix!r}{kind})"

    def name(self, key: str) -> str:
        """The Redis key that holds ``key``: the prefix and the key (on a cluster, with an
        empty hash tag after the first ``{`` unless the prefix pins the slot)."""
        full = self.prefix + key
        return _hash_whole(full) if self._whole and "{" in full else full

    async def _run(self, op: Awaitable[T]) -> T:
        try:
            if not self.cluster:
                return await op
            return await self._on_cluster(op)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"redis unavailable: {exc}") from exc
        except redis_errors.RedisError as exc:
            raise StoreError(f"redis error: {exc}") from exc

    async def _on_cluster(self, op: Awaitable[T]) -> T:
        """Run ``op`` on a cluster once the client is ready, within the gate."""
        client = cast(RedisCluster, self.client)
        if client.get_default_node() is None or not self._scripts_loaded:
            try:
                await asyncio.shield(self._preparation(client))
            except BaseException:
                _discard(op)
                raise
        gate = self._gate
        if gate is None:
            return await op
        try:
            async with asyncio.timeout(self._timeout):
                await gate.acquire()
        except TimeoutError:
            _discard(op)
            raise StoreUnavailable(
                f"redis cluster: no free connection within {self._timeout}s"
            ) from None
        try:
            return await op
        finally:
            gate.release()

    def _preparation(self, client: RedisCluster) -> asyncio.Task[None]:
        """The one task loading the slot map (and, the first time, the scripts on every
        master); every caller that needs it waits on the same task.

        Before its first topology load (and after a failover dropped it) redis-py picks a
        command's node before loading the slot map, so a burst lands on random nodes; the
        MOVED replies pile up, and every fifth one makes it close every connection,
        in-flight commands included. A cold burst of EVALSHAs would also each answer
        NOSCRIPT and each send SCRIPT LOAD to every master. So the load comes first, once:
        in one gate slot (waiting for it holds none), in a task of its own (a
        caller's timeout does not cancel it half done, so a slow first load still finishes
        for the next caller), its failure shared by everyone waiting (a burst during an
        outage pays one timeout, not one per caller in turn).
        """
        task = self._preparing
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._prepare(client))
            task.add_done_callback(_retrieved)
            self._preparing = task
        return task

    async def _prepare(self, client: RedisCluster) -> None:
        # One command at a time, in one gate slot: at most one connection per node.
        if self._gate is not None:
            await self._gate.acquire()
        try:
            if client.get_default_node() is None:
                await client.initialize()
            if not self._scripts_loaded:
                for script in (self._incr, self._sliding, self._gcra):
                    await client.script_load(script.script)  # on every primary
                self._scripts_loaded = True
        finally:
            if self._gate is not None:
                self._gate.release()

    async def _script(self, script: AsyncScript, key: str, args: Sequence[Any]) -> Any:
        return await self._run(script(keys=[self.name(key)], args=list(args)))

    # -- key/value ---------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self.client.get(self.name(key)))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        await self._run(self.client.set(self.name(key), value, px=_ms(ttl)))

    async def delete(self, key: str) -> None:
        await self._run(self.client.delete(self.name(key)))

    async def delete_all(self, prefix: str = "") -> None:
        """Delete by SCAN + UNLINK in batches; never ``KEYS`` or ``FLUSHDB``."""
        pattern = self.name(prefix).translate(_GLOB_SPECIAL) + "*"

        async def sweep() -> None:
            batch: list[bytes] = []
            async for key in self.client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self.client.unlink(*batch)
                    batch.clear()
            if batch:
                await self.client.unlink(*batch)

        await self._run(sweep())

    async def clear(self) -> None:
        await self.delete_all()

    async def exists(self, key: str) -> bool:
        count: int = await self._run(self.client.exists(self.name(key)))
        return count > 0

    async def expires_in(self, key: str) -> float | None:
        ms: int = await self._run(self.client.pttl(self.name(key)))
        return ms / 1000 if ms >= 0 else None

    # -- atomic operations -------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        ms = _ms(ttl)
        return int(await self._script(self._incr, key, (amount, "" if ms is None else ms)))

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        done = await self._run(self.client.set(self.name(key), value, px=_ms(ttl), nx=True))
        return bool(done)

    async def sliding_window_hit(
        self, key: str, limit: int, window: float, now: float | None = None
    ) -> SlidingWindowResult:
        check_rate_args(limit, window)
        member = f"{self._tag}:{next(self._seq)}"
        args = (limit, repr(float(window)), "" if now is None else repr(float(now)), member)
        allowed, remaining, reset = await self._script(self._sliding, key, args)
        return SlidingWindowResult(bool(allowed), int(remaining), max(0.0, float(reset)))

    async def gcra_hit(
        self, key: str, limit: int, period: float, burst: int | None = None
    ) -> GcraResult:
        check_rate_args(limit, period, burst)
        args = (gcra_interval_us(limit, period), limit if burst is None else burst)
        allowed, remaining, retry, reset = await self._script(self._gcra, key, args)
        return GcraResult(bool(allowed), int(remaining), retry / 1e6, reset / 1e6)

    async def prepare(self) -> None:
        """Connect now instead of on the first request; ``StoreUnavailable`` if Redis is down.

        On one Redis: a ``PING``. On a cluster: the slot map (``CLUSTER SLOTS``, and
        redis-py reads ``COMMAND``: ~100 ms of CPU) and the scripts on every master, which
        the first operation would otherwise pay for within its own timeout. Call it at
        startup, or from a readiness check.
        """
        if self.cluster:
            await self._run(_nothing())
        else:
            await self._run(self.client.ping())

    async def close(self) -> None:
        """Stop a cluster layout load still running; close the client if this store made it."""
        task, self._preparing = self._preparing, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._owns:
            await self.client.aclose()
