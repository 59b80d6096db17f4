"""Shared state for rate limits, sessions, the BFF cache and breakers.

``MemoryStore`` serves one process; ``RedisStore`` (needs ``scallion[redis]``, imported on
first use) shares state across workers and machines. Both implement ``Store``.

    store = RedisStore("redis://127.0.0.1:6379/0", prefix="myapp:")
    store = RedisStore("redis+cluster://10.0.0.5:7000,10.0.0.6:7000", prefix="myapp:")
    hit = await store.sliding_window_hit("rl:1.2.3.4", limit=100, window=60)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import GcraResult, SlidingWindowResult, Store, StoreError, StoreUnavailable
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = [
    "GcraResult",
    "MemoryStore",
    "RedisStore",
    "SlidingWindowResult",
    "Store",
    "StoreError",
    "StoreUnavailable",
]


def __getattr__(name: str) -> object:
    # RedisStore imports redis; keep `import scallion.stores` working without it.
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
