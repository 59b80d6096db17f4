"""Turning a middleware's ``store=`` option into a ``Store`` (not public API)."""

from __future__ import annotations

from ..stores.base import Store
from ..stores.memory import MemoryStore

__all__ = ["resolve_store"]


def resolve_store(
    store: str | Store, redis_url: str | None, *, who: str, prefix: str, memory_entries: int
) -> Store:
    """``"memory"`` -> a new ``MemoryStore``; ``"redis"`` -> a ``RedisStore`` on ``redis_url``.

    A ``Store`` object is used as it is (several middleware may share one). Problems are
    ``TypeError``/``ValueError`` at start-up, naming the factory (``who``).
    """
    if isinstance(store, str):
        if store == "memory":
            if redis_url is not None:
                raise ValueError(f"{who}(redis_url=...) needs store='redis'")
            return MemoryStore(memory_entries)
        if store == "redis":
            if not isinstance(redis_url, str) or not redis_url:
                raise ValueError(
                    f"{who}(store='redis') needs redis_url='redis://host:6379/0' "
                    "(or pass a RedisStore as store=)"
                )
            from ..stores.redis import RedisStore

            return RedisStore(redis_url, prefix=prefix)
        raise ValueError(f"{who}(store=...) must be 'memory', 'redis' or a Store, not {store!r}")
    if not isinstance(store, Store):
        raise TypeError(
            f"{who}(store=...) must be 'memory', 'redis' or a Store "
            f"(MemoryStore, RedisStore), not {type(store).__name__}"
        )
    if redis_url is not None:
        raise ValueError(f"{who}(redis_url=...) is only for store='redis'")
    return store
