"""A ``Store`` on Redis (``redis.asyncio``), shared by every worker and every machine.

The atomic operations are Lua scripts run with EVALSHA (loaded again on NOSCRIPT), each one
round trip and one critical section on the server. Rate limit scripts read the time with
Redis ``TIME``, so gateways whose clocks disagree still agree on the window.

Connection problems (refused, timed out, dropped) raise ``StoreUnavailable`` so callers can
degrade; a store built from a URL uses short timeouts and no client-side retries, so a dead
Redis costs a request milliseconds, not seconds. Install with ``pip install scallion[redis]``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

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


def _ms(ttl: float | None) -> int | None:
    if ttl is None:
        return None
    if ttl <= 0:
        raise ValueError(f"ttl must be > 0 seconds or None, got {ttl!r}")
    return max(1, int(ttl * 1000 + 0.5))


class RedisStore:
    """A ``Store`` on Redis; every key is stored under ``prefix``.

    Args:
        url_or_client: a ``redis://`` URL (the store owns and closes the client) or a
            ``redis.asyncio.Redis`` you configured (you close it; it must not decode
            responses).
        prefix: namespaces this store's keys, so apps and features can share one Redis.
        timeout: socket connect and read timeout in seconds for a client built from a URL.
        max_connections: pool size for a client built from a URL; callers beyond it wait
            up to ``timeout`` for a connection.
    """

    __slots__ = ("_gcra", "_incr", "_owns", "_seq", "_sliding", "_tag", "client", "prefix")

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        prefix: str = "scallion:",
        *,
        timeout: float = 1.0,
        max_connections: int = 50,
    ) -> None:
        if isinstance(url_or_client, str):
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
            self.client: aioredis.Redis = aioredis.Redis.from_pool(pool)
            self._owns = True
        else:
            self.client = url_or_client
            self._owns = False
        self.prefix = prefix
        self._incr: AsyncScript = self.client.register_script(_INCR)
        self._sliding: AsyncScript = self.client.register_script(_SLIDING)
        self._gcra: AsyncScript = self.client.register_script(_GCRA)
        # Unique sorted-set members for hits that share a timestamp.
        self._tag = os.urandom(6).hex()
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"

    async def _run(self, op: Awaitable[T]) -> T:
        try:
            return await op
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"redis unavailable: {exc}") from exc
        except redis_errors.RedisError as exc:
            raise StoreError(f"redis error: {exc}") from exc

    async def _script(self, script: AsyncScript, key: str, args: Sequence[Any]) -> Any:
        return await self._run(script(keys=[self.prefix + key], args=list(args)))

    # -- key/value ---------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        value = await self._run(self.client.get(self.prefix + key))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        await self._run(self.client.set(self.prefix + key, value, px=_ms(ttl)))

    async def delete(self, key: str) -> None:
        await self._run(self.client.delete(self.prefix + key))

    async def delete_all(self, prefix: str = "") -> None:
        """Delete by SCAN + UNLINK in batches; never ``KEYS`` or ``FLUSHDB``."""
        pattern = (self.prefix + prefix).translate(_GLOB_SPECIAL) + "*"

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
        count: int = await self._run(self.client.exists(self.prefix + key))
        return count > 0

    async def expires_in(self, key: str) -> float | None:
        ms: int = await self._run(self.client.pttl(self.prefix + key))
        return ms / 1000 if ms >= 0 else None

    # -- atomic operations -------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        ms = _ms(ttl)
        return int(await self._script(self._incr, key, (amount, "" if ms is None else ms)))

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        done = await self._run(self.client.set(self.prefix + key, value, px=_ms(ttl), nx=True))
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

    async def close(self) -> None:
        """Close the client if this store created it."""
        if self._owns:
            await self.client.aclose()
