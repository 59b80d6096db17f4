"""A least-recently-used map with per-entry expiry, bounded by entries *and* by bytes.

The cache's L1. Every operation is O(1): an ``OrderedDict`` keeps recency order
(``move_to_end`` on a hit, ``popitem(last=False)`` to evict), each entry carries its own
expiry time and size, and running totals keep both bounds without a scan. Expired entries
leave when they are read or when they reach the cold end; the bounds hold either way, so
memory stays bounded even for keys that are never read again.

    lru = LRU(max_entries=10_000, max_bytes=64 * 2**20)
    lru.set("k", value, size=len(body), expires_at=clock() + 30)
    value = lru.get("k")            # None when absent or expired
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["LRU"]

V = TypeVar("V")


class _Slot(Generic[V]):
    __slots__ = ("expires_at", "size", "value")

    def __init__(self, value: V, size: int, expires_at: float) -> None:
        self.value = value
        self.size = size
        self.expires_at = expires_at


class LRU(Generic[V]):
    """An LRU map of ``str`` to ``V`` where each entry expires at its own time.

    Args:
        max_entries: at most this many entries; the least recently used one goes first.
        max_bytes: at most this many bytes, as reported by ``size=`` on ``set``. An entry
            larger than a quarter of the budget is refused, so one huge value cannot flush
            the whole cache.
        clock: monotonic seconds; tests pass a fake clock to move time forward.
    """

    __slots__ = ("_clock", "_data", "bytes", "evictions", "max_bytes", "max_entries")

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = 64 * 2**20,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, _Slot[V]] = OrderedDict()
        self.bytes = 0
        """Bytes held now (the sum of the sizes given to ``set``)."""
        self.evictions = 0
        """Entries pushed out by a bound (not counting expiry or deletion)."""

    @property
    def slots(self) -> OrderedDict[str, _Slot[V]]:
        """The table itself, for a caller that must skip a method call per read (the cache's
        hit path): read it, ``move_to_end`` on a hit, never write it any other way."""
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __repr__(self) -> str:
        return (
            f"LRU(entries={len(self._data)}/{self.max_entries}, "
            f"bytes={self.bytes}/{self.max_bytes})"
        )

    def get(self, key: str) -> V | None:
        """The live value for ``key`` (now the most recently used), or ``None``."""
        slot = self._data.get(key)
        if slot is None:
            return None
        if slot.expires_at <= self._clock():
            del self._data[key]
            self.bytes -= slot.size
            return None
        self._data.move_to_end(key)
        return slot.value

    def set(self, key: str, value: V, *, size: int, expires_at: float) -> bool:
        """Store ``value`` until ``expires_at`` (clock time); ``False`` if it was refused.

        A refused value (already expired, or too big for the byte budget) also removes any
        older value under ``key``, so a reader never sees an outdated one.
        """
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if size > self.max_bytes // 4 or expires_at <= self._clock():
            return False
        self._data[key] = _Slot(value, size, expires_at)
        self.bytes += size
        data = self._data
        while len(data) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = data.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1
        return True

    def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it was there."""
        slot = self._data.pop(key, None)
        if slot is None:
            return False
        self.bytes -= slot.size
        return True

    def clear(self) -> None:
        """Remove every entry."""
        self._data.clear()
        self.bytes = 0

    def prune(self) -> int:
        """Drop every expired entry now (O(n)); returns how many left. Reads never need it."""
        now = self._clock()
        dead = [k for k, slot in self._data.items() if slot.expires_at <= now]
        for key in dead:
            self.delete(key)
        return len(dead)
