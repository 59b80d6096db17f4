"""The one async ``Store`` protocol behind all shared state.

Rate limits, sessions, the BFF cache and shared breaker state all talk to a ``Store``. The
memory store serves one process; the Redis store lets every worker and every machine share
the same state. Besides plain key/value calls the protocol carries the *atomic* operations
those features need, so no caller ever reads, decides and writes back (the race that made
Litestar's limiter multiply its limit by the worker count, litestar#4681 / #4700):

- ``incr(key, amount, ttl)``: atomic counter; the TTL is set when the key is created.
- ``set_if_absent(key, value, ttl)``: a short lock, e.g. for request coalescing.
- ``sliding_window_hit(key, limit, window)``: a sliding-log rate limit hit.
- ``gcra_hit(key, limit, period, burst)``: a GCRA (token bucket) rate limit hit.

Each is one critical section in memory and one Lua script in Redis. Times are seconds.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["GcraResult", "SlidingWindowResult", "Store", "StoreError", "StoreUnavailable"]


class StoreError(Exception):
    """A store could not carry out an operation."""


class StoreUnavailable(StoreError):
    """The store's backend cannot be reached (connection refused, timed out, went away).

    Callers catch this to degrade: a cache falls back to its L1, a breaker to local state.
    """


class SlidingWindowResult(NamedTuple):
    """The outcome of one ``sliding_window_hit``."""

    allowed: bool
    remaining: int
    """Hits still allowed in the current window after this one."""
    reset_after: float
    """Seconds until the oldest counted hit leaves the window (a slot frees up)."""


class GcraResult(NamedTuple):
    """The outcome of one ``gcra_hit``."""

    allowed: bool
    remaining: int
    """Hits that could still be made right now after this one."""
    retry_after: float
    """Seconds until a denied hit would be allowed; 0.0 when allowed."""
    reset_after: float
    """Seconds until the bucket is full again (the limiter forgets this key)."""


@runtime_checkable
class Store(Protocol):
    """Async key/value storage with TTLs and atomic counters. Keys are ``str``, values bytes."""

    async def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or ``None`` when absent or expired."""
        ...

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        """Store ``value`` under ``key``, expiring after ``ttl`` seconds (never when ``None``)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are fine."""
        ...

    async def delete_all(self, prefix: str = "") -> None:
        """Remove every key of this store that starts with ``prefix``."""
        ...

    async def clear(self) -> None:
        """Remove every key of this store (``delete_all("")``)."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds an unexpired value."""
        ...

    async def expires_in(self, key: str) -> float | None:
        """Seconds until ``key`` expires; ``None`` when absent or without a TTL."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add ``amount`` and return the new value.

        ``ttl`` applies only when the counter has no expiry yet (it was just created), so a
        fixed window of ``ttl`` seconds starts with its first hit.
        """
        ...

    async def set_if_absent(self, key: str, value: bytes | str, ttl: float | None = None) -> bool:
        """Store ``value`` only when ``key`` is absent; ``True`` when this call stored it."""
        ...

    async def sliding_window_hit(
        self, key: str, limit: int, window: float, now: float | None = None
    ) -> SlidingWindowResult:
        """Count one hit against at most ``limit`` hits in the last ``window`` seconds.

        Denied hits are not counted. ``now`` overrides the store's clock (tests; all
        callers of one key must then use the same time base).
        """
        ...

    async def gcra_hit(
        self, key: str, limit: int, period: float, burst: int | None = None
    ) -> GcraResult:
        """One hit against ``limit`` per ``period`` seconds, at most ``burst`` at once.

        GCRA, the token bucket in one number: hits drain at ``limit / period`` per second
        and ``burst`` (default ``limit``) may arrive back to back.
        """
        ...

    async def close(self) -> None:
        """Release connections the store owns."""
        ...


def check_rate_args(limit: int, span: float, burst: int | None = None) -> None:
    """Reject rate limit arguments that cannot mean anything."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")
    if not span > 0:
        raise ValueError(f"window/period must be > 0 seconds, got {span!r}")
    if burst is not None and (not isinstance(burst, int) or burst < 1):
        raise ValueError(f"burst must be a positive int, got {burst!r}")


def gcra_interval_us(limit: int, period: float) -> int:
    """The GCRA emission interval in whole microseconds (exact arithmetic in Lua and Python)."""
    return max(1, round(period * 1_000_000 / limit))


def gcra(tat: int | None, now: int, interval: int, burst: int) -> tuple[GcraResult, int | None]:
    """Pure GCRA step in integer microseconds: the result and the new TAT (``None``: unchanged).

    ``tat`` (theoretical arrival time) is when the bucket would be empty again; a hit is
    allowed while ``tat + interval - burst * interval <= now``.
    """
    tat = now if tat is None or tat < now else tat
    new_tat = tat + interval
    allow_at = new_tat - burst * interval
    if now < allow_at:
        return GcraResult(False, 0, (allow_at - now) / 1e6, (tat - now) / 1e6), None
    remaining = (now - allow_at) // interval
    return GcraResult(True, remaining, 0.0, (new_tat - now) / 1e6), new_tat
