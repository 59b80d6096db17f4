"""Sliding windows of call outcomes for the circuit breaker.

``CountWindow(n)`` keeps the last ``n`` calls in a ring; ``TimeWindow(seconds, buckets)``
keeps the calls of the last ``seconds`` in ``buckets`` slices, so old calls leave a slice
at a time and memory stays fixed however many calls arrive. Both keep running totals, so
recording is O(1) and reading the totals is O(1) (count) or O(buckets) (time).
"""

from __future__ import annotations

__all__ = ["CountWindow", "TimeWindow", "WindowTotals"]

WindowTotals = tuple[int, int, int]
"""(calls, failures, slow calls)."""


class CountWindow:
    """The outcomes of the last ``size`` calls."""

    __slots__ = ("_failures", "_next", "_ring", "_slow", "calls", "size")

    def __init__(self, size: int = 100) -> None:
        if size < 1:
            raise ValueError(f"a count window needs size >= 1, got {size!r}")
        self.size = size
        self._ring = bytearray(size)  # bit 0: failed, bit 1: slow
        self.reset()

    def reset(self) -> None:
        """Forget every call."""
        self.calls = self._failures = self._slow = self._next = 0

    def record(self, failed: bool, slow: bool, now: float = 0.0) -> None:
        """Add one call, dropping the oldest when full."""
        i = self._next
        if self.calls == self.size:
            old = self._ring[i]
            self._failures -= old & 1
            self._slow -= old >> 1
        else:
            self.calls += 1
        self._ring[i] = failed | (slow << 1)
        self._failures += failed
        self._slow += slow
        self._next = (i + 1) % self.size

    def totals(self, now: float = 0.0) -> WindowTotals:
        """(calls, failures, slow calls) in the window."""
        return self.calls, self._failures, self._slow

    def __repr__(self) -> str:
        return f"CountWindow(size={self.size}, totals={self.totals()})"


class TimeWindow:
    """The outcomes of the calls made in the last ``seconds``, in ``buckets`` slices."""

    __slots__ = ("_calls", "_failures", "_ids", "_slow", "buckets", "seconds", "width")

    def __init__(self, seconds: float = 60.0, buckets: int = 10) -> None:
        if seconds <= 0 or buckets < 1:
            raise ValueError("a time window needs seconds > 0 and buckets >= 1")
        self.seconds = seconds
        self.buckets = buckets
        self.width = seconds / buckets
        self._ids = [-1] * buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets
        self._slow = [0] * buckets

    def reset(self) -> None:
        """Forget every call."""
        for i in range(self.buckets):
            self._ids[i] = -1
            self._calls[i] = self._failures[i] = self._slow[i] = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one call made at ``now`` (monotonic seconds)."""
        bucket = int(now // self.width)
        i = bucket % self.buckets
        if self._ids[i] != bucket:
            self._ids[i] = bucket
            self._calls[i] = self._failures[i] = self._slow[i] = 0
        self._calls[i] += 1
        self._failures[i] += failed
        self._slow[i] += slow

    def totals(self, now: float = 0.0) -> WindowTotals:
        """(calls, failures, slow calls) in the buckets still inside the window at ``now``."""
        oldest = int(now // self.width) - self.buckets
        calls = failures = slow = 0
        for i in range(self.buckets):
            if self._ids[i] > oldest:
                calls += self._calls[i]
                failures += self._failures[i]
                slow += self._slow[i]
        return calls, failures, slow

    def __repr__(self) -> str:
        return f"TimeWindow(seconds={self.seconds}, buckets={self.buckets})"
