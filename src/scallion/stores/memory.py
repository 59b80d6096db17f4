"""An in-process ``Store``: bounded, with TTLs and least-recently-used eviction.

Every method runs as one critical section (no ``await`` inside, plus a thread lock so event
loops in several threads may share a store), which is what makes ``incr`` and the rate limit
hits atomic. It is the default when no Redis is configured; state is per process.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from .base import (
    GcraResult,
    SlidingWindowResult,
    StoreError,
    check_rate_args,
    gcra,
    gcra_interval_us,
)

__all__ = ["MemoryStore"]

_Value = bytes | int | deque[float]


class _Entry:
    __slots__ = ("expires_at", "value")

    def __init__(self, value: _Value, expires_at: float | None) -> None:
        self.value = value
        self.expires_at = expires_at


class MemoryStore:
    """A ``Store`` in this process's memory.

    Args:
        max_entries: when full, the least recently used key is evicted. A rate limit key
            that is evicted starts afresh, so size this above the number of live clients.
        clock: a monotonic clock in seconds; tests pass a fake one to move time.
    """

    __slots__ = ("_clock", "_data", "_expiries", "_lock", "max_entries")

    def __init__(
        self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, _Entry] = OrderedDict()
        # A min-heap of (expires_at, key) so expired keys leave without a full scan; stale
        # rows (key rewritten since) are skipped and the heap is rebuilt when it grows.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryStore(entries={len(self._data)}, max_entries={self.max_entries})"

    # -- internals (call with the lock held) ------------------------------------------------

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= now:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return entry

    def _put(self, key: str, value: _Value, expires_at: float | None, now: float) -> None:
        entry = self._data.get(key)
        if entry is None:
            self._data[key] = _Entry(value, expires_at)
        else:
            entry.value = value
            entry.expires_at = expires_at
            self._data.move_to_end(key)
        if expires_at is not None:
            heapq.heappush(self._expiries, (expires_at, key))
        self._purge(now)

    def _purge(self, now: float) -> None:
        heap = self._expiries
        data = self._data
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
                del data[key]
        while len(data) > self.max_entries:
            data.popitem(last=False)
        if len(heap) > 2 * len(data) + 64:
            self._expiries = [(e.expires_at, k) for k, e in data.items() if e.expires_at]
            heapq.heapify(self._expiries)

    @staticmethod
    def _expiry(now: float, ttl: float | None) -> float | None:
        if ttl is None:
            return None
        if ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds or None, got {ttl!r}")
        return now + ttl

    # -- key/value ---------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key, self._clock())
            if entry is None:
                return None
            value = entry.value
        if isinstance(value, bytes):
            return value
        if isinstance(value, int):
            return repr(value).encode()
        raise StoreError(f"key {key!r} holds a rate limit window, not a value")

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        data = value.encode() if isinstance(value, str) else bytes(value)
        with self._lock:
            now = self._clock()
            self._put(key, data, self._expiry(now, ttl), now)

    async def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    async def delete_all(self, prefix: str = "") -> None:
        with self._lock:
            if not prefix:
                self._data.clear()
                self._expiries.clear()
                return
            for key in [k for k in self._data if k.startswith(prefix)]:
                del self._data[key]

    async def clear(self) -> None:
        await self.delete_all()

    async def exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key, self._clock()) is not None

    async def expires_in(self, key: str) -> float | None:
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None or entry.expires_at is None:
                return None
            return entry.expires_at - now

    # -- atomic operations -------------------------------------------------------------------

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            if entry is None:
                self._put(key, amount, self._expiry(now, ttl), now)
                return amount
            value = entry.value
            if isinstance(value, bytes):
                try:
                    value = int(value)
                except ValueError:
                    raise StoreError(f"key {key!r} does not hold an integer") from None
            elif not isinstance(value, int):
                raise StoreError(f"key {key!r} does not hold an integer")
            expires_at = entry.expires_at
            if expires_at is None:
                expires_at = self._expiry(now, ttl)
            self._put(key, value + amount, expires_at, now)
            return value + amount

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        data = value.encode() if isinstance(value, str) else bytes(value)
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._put(key, data, self._expiry(now, ttl), now)
            return True

    async def sliding_window_hit(
        self, key: str, limit: int, window: float, now: float | None = None
    ) -> SlidingWindowResult:
        check_rate_args(limit, window)
        with self._lock:
            t = self._clock() if now is None else now
            entry = self._live(key, t)
            if entry is None or not isinstance(entry.value, deque):
                hits: deque[float] = deque()
            else:
                hits = entry.value
            edge = t - window
            while hits and hits[0] <= edge:
                hits.popleft()
            if len(hits) >= limit:
                return SlidingWindowResult(False, 0, hits[0] + window - t)
            hits.append(t)
            self._put(key, hits, hits[-1] + window, t)
            return SlidingWindowResult(True, limit - len(hits), hits[0] + window - t)

    async def gcra_hit(
        self, key: str, limit: int, period: float, burst: int | None = None
    ) -> GcraResult:
        check_rate_args(limit, period, burst)
        with self._lock:
            now = self._clock()
            entry = self._live(key, now)
            tat = entry.value if entry is not None and isinstance(entry.value, int) else None
            interval = gcra_interval_us(limit, period)
            now_us = int(now * 1_000_000)
            result, new_tat = gcra(tat, now_us, interval, limit if burst is None else burst)
            if new_tat is not None:
                self._put(key, new_tat, now + (new_tat - now_us) / 1e6, now)
            return result

    async def close(self) -> None:
        """Nothing to release; present for the protocol."""
