"""Shared breaker state on a ``Store``, so a fleet of gateways opens a breaker together.

One key per breaker name holds "open" with a TTL of the wait duration: the TTL *is* the
expiry, so processes whose monotonic clocks differ still agree on when it ends.

    storage = RedisBreakerStorage("redis://127.0.0.1:6379/0")
    breaker = CircuitBreaker("users", storage=storage)
"""

from __future__ import annotations

from ..stores.base import Store

__all__ = ["RedisBreakerStorage"]


class RedisBreakerStorage:
    """``BreakerStorage`` on a ``RedisStore`` (any ``Store`` works, e.g. in tests).

    Args:
        store_or_url: a ``Store``, or a Redis URL (a ``RedisStore`` with short timeouts is
            made, so a dead Redis costs a background task at most ``timeout`` seconds).
        prefix: key prefix inside the store.
        timeout: connect/read timeout for a store made from a URL.
    """

    __slots__ = ("_owns", "prefix", "store")

    def __init__(
        self, store_or_url: Store | str, *, prefix: str = "breaker:", timeout: float = 0.25
    ) -> None:
        if isinstance(store_or_url, str):
            from ..stores.redis import RedisStore

            self.store: Store = RedisStore(store_or_url, timeout=timeout)
            self._owns = True
        else:
            self.store = store_or_url
            self._owns = False
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"RedisBreakerStorage({self.store!r}, prefix={self.prefix!r})"

    async def publish_open(self, name: str, wait: float) -> None:
        """Mark ``name`` open for ``wait`` seconds (a later, longer open wins by overwriting)."""
        if wait > 0:
            await self.store.set(self.prefix + name, b"open", ttl=wait)

    async def open_for(self, name: str) -> float | None:
        """Seconds ``name`` remains open fleet-wide, or ``None`` when it is not open."""
        return await self.store.expires_in(self.prefix + name)

    async def close(self) -> None:
        """Close the store if this storage made it."""
        if self._owns:
            await self.store.close()
