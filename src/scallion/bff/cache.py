"""The BFF cache: L1 in-process LRU, L2 Redis, stale serving, coalescing, negative caching.

One call does it all::

    cache = Cache(redis="redis://127.0.0.1:6379/0", default_ttl=30, stale_ttl=60)
    key = cache.key_for("GET", url, request_headers, vary=("accept-language",))
    result = await cache.get_or_fetch(key, fetch_user)    # result.value, .status, .age

A lookup goes L1 → L2 → upstream:

- **L1** (``LRU``) holds decoded values, bounded by entries and bytes. A fresh L1 hit never
  awaits: it is a dict lookup and a clock read.
- **L2** (a ``Store``, normally ``RedisStore``) holds encoded records shared by every
  process: a 34-byte header (stored-at wall time, fresh TTL, both stale windows) then the
  payload from the codec. A Redis outage drops to L1 alone, logged once per outage and
  counted; Redis is tried again after a backoff (1 s doubling to 30 s), never on every
  request while it is down.
- **Upstream** is called through a *flight* (``Coalescer``): N concurrent misses for one
  key make one call in this process. Across processes, the flight first takes a short
  Redis lock (SET NX PX); the holder fetches and writes L2, the others poll L2 briefly and
  take its value. The lock has a TTL, so a dead holder costs a wait, never a deadlock.

Freshness comes from the fetch's ``CacheEntry`` (its ``Cache-Control``, or explicit
numbers), else the call's ``ttl``, else ``default_ttl``. Within stale-while-revalidate the
stale value is served and one background refresh runs; within stale-if-error a failed
fetch answers with the stale value (``status == "stale"``, ``error`` set). Failures are
cached for ``negative_ttl`` seconds (off by default), as are ``negative_statuses``.

Values in L1 are shared by every reader: treat them as immutable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, cast

import orjson

from ..errors import HttpError, error_status
from ..stores.base import Store, StoreUnavailable
from .cache_policy import cache_key, parse_cache_control
from .coalesce import Coalescer
from .lru import LRU

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheResult",
    "CacheStats",
    "CachedError",
    "Codec",
    "JsonCodec",
]

log = logging.getLogger("scallion.bff.cache")

T = TypeVar("T")
Status = Literal["hit", "miss", "stale", "coalesced"]

_HEADER = struct.Struct("<BBdddd")  # version, flags, stored_at (wall), ttl, swr, sie
_VERSION = 1
_ERROR = 1  # flag: the record is a cached failure
_L2_OUTAGE = (StoreUnavailable, OSError, TimeoutError)
_MAX_BACKOFF = 30.0


class Codec(Protocol[T]):
    """Turns values into L2 bytes and back. Must never execute code from the bytes."""

    def dumps(self, value: T) -> bytes: ...

    def loads(self, data: bytes) -> T: ...


class JsonCodec:
    """The default codec: raw ``bytes``, ``str`` or anything orjson serialises, one tag byte."""

    def dumps(self, value: object) -> bytes:
        if isinstance(value, bytes):
            return b"b" + value
        if isinstance(value, str):
            return b"s" + value.encode()
        return b"j" + orjson.dumps(value)

    def loads(self, data: bytes) -> Any:
        tag, body = data[:1], data[1:]
        if tag == b"b":
            return body
        if tag == b"s":
            return body.decode()
        if tag == b"j":
            return orjson.loads(body)
        raise ValueError(f"unknown cache payload tag {tag!r}")


_JSON = JsonCodec()


class CacheEntry(Generic[T]):
    """What a fetch may return instead of a bare value, to say how to cache it.

    Args:
        value: what callers get.
        cache_control: the upstream's ``Cache-Control`` header, obeyed as a shared cache.
        age: the upstream's ``Age`` header in seconds; it shortens freshness.
        status: the upstream HTTP status; one of ``negative_statuses`` caps the TTL at
            ``negative_ttl``.
        ttl, stale_while_revalidate, stale_if_error: explicit seconds; they win over
            ``cache_control``.
        store: ``False`` returns the value without caching it.
    """

    __slots__ = (
        "age",
        "cache_control",
        "stale_if_error",
        "stale_while_revalidate",
        "status",
        "store",
        "ttl",
        "value",
    )

    def __init__(
        self,
        value: T,
        *,
        cache_control: str | None = None,
        age: float = 0.0,
        status: int | None = None,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        store: bool = True,
    ) -> None:
        self.value = value
        self.cache_control = cache_control
        self.age = age
        self.status = status
        self.ttl = ttl
        self.stale_while_revalidate = stale_while_revalidate
        self.stale_if_error = stale_if_error
        self.store = store

    def __repr__(self) -> str:
        return f"CacheEntry(status={self.status!r}, cache_control={self.cache_control!r})"


class CacheResult(Generic[T]):
    """A value and where it came from.

    ``status`` is ``"hit"`` (fresh from L1 or L2), ``"miss"`` (this call fetched it),
    ``"coalesced"`` (another caller's fetch answered) or ``"stale"`` (past its freshness:
    served while a refresh runs, or because the fetch failed; then ``error`` says why).
    ``age`` is seconds since the value was fetched.
    """

    __slots__ = ("age", "error", "status", "value")

    def __init__(
        self, value: T, status: Status, age: float = 0.0, error: BaseException | None = None
    ) -> None:
        self.value = value
        self.status = status
        self.age = age
        self.error = error

    @property
    def stale(self) -> bool:
        return self.status == "stale"

    def __repr__(self) -> str:
        return f"CacheResult(status={self.status!r}, age={self.age:.3f})"


class CacheStats:
    """Counters since the cache was made; ``as_dict()`` for metrics and dashboards."""

    __slots__ = (
        "coalesced",
        "hits",
        "l2_errors",
        "l2_hits",
        "l2_outages",
        "misses",
        "negative_hits",
        "refresh_errors",
        "refreshes",
        "stale",
        "upstream_calls",
        "upstream_errors",
    )

    def __init__(self) -> None:
        self.hits = 0  # fresh values served from L1 or L2 (negative hits included)
        self.misses = 0  # calls that went upstream themselves
        self.stale = 0  # stale values served (revalidating or after an error)
        self.coalesced = 0  # calls answered by another caller's upstream call
        self.negative_hits = 0  # cached failures raised again
        self.l2_hits = 0
        self.l2_errors = 0  # failed L2 operations (each one)
        self.l2_outages = 0  # times L2 went from up to down
        self.upstream_calls = 0
        self.upstream_errors = 0
        self.refreshes = 0  # background refreshes started
        self.refresh_errors = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"CacheStats({self.as_dict()})"


class CachedError(HttpError):
    """A failure cached in L2 by another process, raised again with its status."""


class _Record:
    """One cached value (or failure) with its timing; ``stored_at`` is on ``clock``."""

    __slots__ = ("error", "sie", "size", "stored_at", "swr", "ttl", "value")

    def __init__(
        self,
        value: object,
        stored_at: float,
        ttl: float,
        swr: float,
        sie: float,
        error: BaseException | None = None,
    ) -> None:
        self.value = value
        self.stored_at = stored_at
        self.ttl = ttl
        self.swr = swr
        self.sie = sie
        self.error = error
        self.size = 0  # encoded bytes when known


class _Outcome:
    """What a flight hands its waiters."""

    __slots__ = ("age", "error", "status", "stored", "value")

    def __init__(
        self,
        value: object,
        status: Status,
        age: float = 0.0,
        stored: bool = True,
        error: BaseException | None = None,
    ) -> None:
        self.value = value
        self.status = status
        self.age = age
        self.stored = stored
        self.error = error


_Fetch = Callable[[], Awaitable[Any]]
_FAILED: Any = object()  # an L2 call that failed (already counted and logged)
_PASS: Any = object()  # L1 marker: this key just answered uncacheable
_PASS_TTL = 5.0


def _raise(err: BaseException) -> Any:
    # The same instance is raised again on every negative hit: drop the old traceback so it
    # cannot grow with each raise.
    raise err.with_traceback(None)


class Cache:
    """L1 + L2 cache with coalescing, stale serving and negative caching.

    Args:
        l1_max_entries, l1_max_bytes: bounds of the in-process LRU.
        redis: ``None`` (L1 only), a ``redis://`` URL or a ``redis.asyncio.Redis`` client (a
            ``RedisStore`` is built on it), or any ``Store``.
        default_ttl: seconds a value stays fresh when neither the fetch nor the call says.
        stale_ttl: default stale-while-revalidate and stale-if-error window in seconds.
        negative_ttl: seconds a failure (an exception from the fetch) is cached; 0 turns
            failure caching off. Also the cap for ``negative_statuses``.
        negative_statuses: ``CacheEntry.status`` values cached at most ``negative_ttl``.
        max_ttl: cap for every TTL an upstream may ask for.
        namespace: prefix of every L2 key, so apps can share one Redis.
        clock: monotonic seconds for TTLs; tests pass a fake clock to move time.
        wall_clock: epoch seconds for L2 records, which other processes read.
        codec: how values become L2 bytes (per call with ``codec=``).
        lock_ttl: lifetime of the cross-process fetch lock (longer than a slow fetch).
        lock_wait: how long a process waits for another's fetch before fetching itself.
        l2_timeout: bound on every L2 operation in seconds.
        l2_retry_after: first backoff after an L2 failure (doubles up to 30 s).
    """

    def __init__(
        self,
        *,
        l1_max_entries: int = 10_000,
        l1_max_bytes: int = 64 * 2**20,
        redis: str | aioredis.Redis | Store | None = None,
        default_ttl: float = 60.0,
        stale_ttl: float = 0.0,
        negative_ttl: float = 0.0,
        negative_statuses: Collection[int] = (404, 410),
        max_ttl: float = 86_400.0,
        namespace: str = "scallion:cache",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        codec: Codec[Any] = _JSON,
        lock_ttl: float = 5.0,
        lock_wait: float | None = None,
        l2_timeout: float = 0.5,
        l2_retry_after: float = 1.0,
    ) -> None:
        for name, value in (
            ("default_ttl", default_ttl),
            ("stale_ttl", stale_ttl),
            ("negative_ttl", negative_ttl),
            ("max_ttl", max_ttl),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
        if lock_ttl <= 0 or l2_timeout <= 0 or l2_retry_after <= 0:
            raise ValueError("lock_ttl, l2_timeout and l2_retry_after must be > 0 seconds")
        self.l1: LRU[_Record] = LRU(l1_max_entries, l1_max_bytes, clock=clock)
        self.stats = CacheStats()
        self.default_ttl = float(default_ttl)
        self.stale_ttl = float(stale_ttl)
        self.negative_ttl = float(negative_ttl)
        self.negative_statuses = frozenset(negative_statuses)
        self.max_ttl = float(max_ttl)
        self.namespace = namespace
        self.codec = codec
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_ttl if lock_wait is None else lock_wait
        self._clock = clock
        self._wall = wall_clock
        self._l2_timeout = l2_timeout
        self._l2_retry_after = l2_retry_after
        self._l2, self._owns_l2 = _make_store(redis, l2_timeout)
        self._l2_down_until = 0.0  # time.monotonic() before which L2 is skipped
        self._l2_backoff = 0.0  # 0 while L2 is up
        self._flights: Coalescer[_Outcome] = Coalescer()
        self._refreshes: Coalescer[None] = Coalescer()
        self._closed = False

    def __repr__(self) -> str:
        return f"Cache(namespace={self.namespace!r}, l1={self.l1!r}, l2={self._l2!r})"

    # -- keys ----------------------------------------------------------------------------

    @staticmethod
    def key_for(
        method: str, url: str, headers: Mapping[str, str] | None = None, vary: Iterable[str] = ()
    ) -> str:
        """The key for ``method`` + normalised ``url`` + the ``vary`` headers' values."""
        return cache_key(method, url, headers, vary)

    def _l2_key(self, key: str) -> str:
        return f"{self.namespace}:v:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.namespace}:lock:{key}"

    # -- the hot path --------------------------------------------------------------------

    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T | CacheEntry[T]]],
        *,
        ttl: float | None = None,
        codec: Codec[Any] | None = None,
        share_uncacheable: bool = True,
    ) -> CacheResult[T]:
        """The value for ``key``: cached, or from ``fetch()`` (once for all concurrent callers).

        Args:
            fetch: makes the upstream call; returns the value or a ``CacheEntry``.
            ttl: freshness for this call when the fetch's ``Cache-Control`` says nothing.
            codec: how this value is stored in L2 (default: the cache's codec).
            share_uncacheable: when false, concurrent callers only share a result that
                was cached; after an uncacheable result or a failure each one calls its
                own ``fetch`` (what a response cache needs: one client's private answer
                must never reach another).

        Raises what ``fetch`` raised (or a cached failure) unless a stale value may answer.
        """
        rec = self.l1.get(key)
        if rec is not None:
            age = self._clock() - rec.stored_at
            if age < rec.ttl:
                self.stats.hits += 1
                if rec.error is not None:
                    self.stats.negative_hits += 1
                    _raise(rec.error)
                return CacheResult(cast(T, rec.value), "hit", age)
            if age < rec.ttl + rec.swr and rec.error is None:
                self.stats.stale += 1
                self._revalidate(key, fetch, ttl, codec)
                return CacheResult(cast(T, rec.value), "stale", age)
        return await self._load(key, fetch, ttl, codec, share_uncacheable, rec)

    async def _load(
        self,
        key: str,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any] | None,
        share: bool,
        rec: _Record | None,
    ) -> CacheResult[Any]:
        if self._closed:
            raise RuntimeError("Cache is closed")
        fallback = rec if rec is not None and rec.error is None else None
        if fallback is not None and fallback.value is _PASS:
            # Recently uncacheable: skip the cross-process lock (it would serialise every
            # process on this key) and, unless sharing is allowed, coalescing too.
            if not share:
                return await self._own_fetch(key, fetch, ttl, codec)
            factory = lambda: self._fetch_and_store(key, fetch, ttl, codec, None)  # noqa: E731
        else:
            factory = lambda: self._fill(key, fetch, ttl, codec, fallback)  # noqa: E731
        joined = key in self._flights
        try:
            outcome, joined = await self._flights.run(key, factory)
        except Exception:
            if joined and not share:
                return await self._own_fetch(key, fetch, ttl, codec)
            raise
        if joined and not share and not outcome.stored:
            return await self._own_fetch(key, fetch, ttl, codec)
        stats = self.stats
        status = outcome.status
        if status == "stale":
            stats.stale += 1
        elif status == "hit":
            stats.hits += 1
        elif status == "miss" and not joined:
            stats.misses += 1
        else:
            stats.coalesced += 1
            status = "coalesced"
        return CacheResult(outcome.value, status, outcome.age, outcome.error)

    async def _own_fetch(
        self, key: str, fetch: _Fetch, ttl: float | None, codec: Codec[Any] | None
    ) -> CacheResult[Any]:
        """A caller that may not share another's answer fetches for itself."""
        self.stats.misses += 1
        outcome = await self._fetch_and_store(key, fetch, ttl, codec, None)
        return CacheResult(outcome.value, "miss")

    # -- filling: L2, the cross-process lock, upstream --------------------------------------

    async def _fill(
        self,
        key: str,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any] | None,
        fallback: _Record | None,
    ) -> _Outcome:
        """One flight: L2, then (holding the cross-process lock) upstream."""
        store = self._l2_ready()
        if store is None:
            return await self._fetch_and_store(key, fetch, ttl, codec, fallback)
        rec = await self._l2_get(store, key, codec)
        if rec is not None:
            outcome = self._from_l2(key, rec, fetch, ttl, codec, "hit")
            if outcome is not None:
                return outcome
            if rec.error is None and (fallback is None or rec.stored_at > fallback.stored_at):
                fallback = rec
        return await self._fill_locked(store, key, fetch, ttl, codec, fallback)

    def _from_l2(
        self,
        key: str,
        rec: _Record,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any] | None,
        status: Status,
    ) -> _Outcome | None:
        """An answer from an L2 record (copied into L1), or ``None`` if it is too old."""
        age = self._clock() - rec.stored_at
        if age < rec.ttl:
            self.stats.l2_hits += 1
            self._l1_put(key, rec)
            if rec.error is not None:
                self.stats.negative_hits += 1
                _raise(rec.error)
            return _Outcome(rec.value, status, age)
        if age < rec.ttl + rec.swr and rec.error is None:
            self.stats.l2_hits += 1
            self._l1_put(key, rec)
            self._revalidate(key, fetch, ttl, codec)
            return _Outcome(rec.value, "stale", age)
        return None

    async def _fill_locked(
        self,
        store: Store,
        key: str,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any] | None,
        fallback: _Record | None,
    ) -> _Outcome:
        """Fetch under the cross-process lock, or take the lock holder's L2 value."""
        lock = self._lock_key(key)
        token = os.urandom(8).hex()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait
        delay = 0.002
        while True:
            got = await self._l2_call(store.set_if_absent(lock, token, self.lock_ttl))
            if got is _FAILED:
                break
            if got:
                try:
                    # The value may have landed between our L2 read and the lock.
                    rec = await self._l2_get(store, key, codec)
                    if rec is not None:
                        outcome = self._from_l2(key, rec, fetch, ttl, codec, "coalesced")
                        if outcome is not None:
                            return outcome
                    return await self._fetch_and_store(key, fetch, ttl, codec, fallback)
                finally:
                    # Plain delete: if our lock already expired and another holder took it,
                    # the worst outcome is one extra fetch; the lock TTL bounds the rest.
                    await self._l2_call(store.delete(lock))
            if loop.time() >= deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            rec = await self._l2_get(store, key, codec)
            if rec is not None:
                outcome = self._from_l2(key, rec, fetch, ttl, codec, "coalesced")
                if outcome is not None:
                    return outcome
        return await self._fetch_and_store(key, fetch, ttl, codec, fallback)

    async def _fetch_and_store(
        self,
        key: str,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any] | None,
        fallback: _Record | None,
    ) -> _Outcome:
        self.stats.upstream_calls += 1
        try:
            got = await fetch()
        except Exception as exc:
            self.stats.upstream_errors += 1
            if fallback is not None:
                age = self._clock() - fallback.stored_at
                if age < fallback.ttl + fallback.sie:
                    log.info("serving stale for %s after upstream error: %r", key, exc)
                    return _Outcome(fallback.value, "stale", age, True, exc)
            if self.negative_ttl > 0:
                rec = _Record(None, self._clock(), self.negative_ttl, 0.0, 0.0, exc)
                self._l1_put(key, rec)
                await self._l2_put(key, rec, _error_payload(exc), codec)
            raise
        if isinstance(got, CacheEntry):
            entry: CacheEntry[Any] | None = got
            value = got.value
        else:
            entry, value = None, got
        timing = self._timing(entry, ttl)
        if timing is None:
            # Never fresh, never served stale: it only routes the next callers for a few
            # seconds past the cross-process lock (see _load).
            self._l1_put(key, _Record(_PASS, self._clock(), 0.0, 0.0, _PASS_TTL))
            return _Outcome(value, "miss", 0.0, False)
        fresh, swr, sie = timing
        rec = _Record(value, self._clock(), fresh, swr, sie)
        payload = self._encode(value, codec)
        self._l1_put(key, rec, payload)
        if payload is not None:
            await self._l2_put(key, rec, payload, codec)
        return _Outcome(value, "miss")

    def _timing(
        self, entry: CacheEntry[Any] | None, ttl: float | None
    ) -> tuple[float, float, float] | None:
        """(fresh, swr, sie) seconds for a fetched value, or ``None``: do not store."""
        fresh = self.default_ttl if ttl is None else ttl
        swr = sie = self.stale_ttl
        if entry is not None:
            if not entry.store:
                return None
            if entry.cache_control:
                cc = parse_cache_control(entry.cache_control)
                if cc.no_store:
                    return None
                if cc.max_age is not None:
                    fresh = cc.max_age - entry.age
                if cc.stale_while_revalidate is not None:
                    swr = cc.stale_while_revalidate
                if cc.stale_if_error is not None:
                    sie = cc.stale_if_error
                if cc.must_revalidate:
                    swr = sie = 0.0
            if entry.ttl is not None:
                fresh = entry.ttl
            if entry.stale_while_revalidate is not None:
                swr = entry.stale_while_revalidate
            if entry.stale_if_error is not None:
                sie = entry.stale_if_error
            if entry.status is not None and entry.status in self.negative_statuses:
                fresh, swr, sie = min(fresh, self.negative_ttl), 0.0, 0.0
        fresh = min(fresh, self.max_ttl)
        swr = min(swr, self.max_ttl)
        sie = min(sie, self.max_ttl)
        if fresh <= 0 and swr <= 0 and sie <= 0:
            return None
        return fresh, swr, sie

    # -- stale-while-revalidate ----------------------------------------------------------

    def _revalidate(
        self, key: str, fetch: _Fetch, ttl: float | None, codec: Codec[Any] | None
    ) -> None:
        """Start one background refresh for ``key`` unless one (or a load) is running."""
        if self._closed or key in self._refreshes:
            return
        if self._refreshes.start(key, lambda: self._refresh(key, fetch, ttl, codec)):
            self.stats.refreshes += 1

    async def _refresh(
        self, key: str, fetch: _Fetch, ttl: float | None, codec: Codec[Any] | None
    ) -> None:
        store = self._l2_ready()
        lock = self._lock_key(key)
        locked = False
        try:
            if store is not None:
                rec = await self._l2_get(store, key, codec)
                if rec is not None and self._clock() - rec.stored_at < rec.ttl:
                    self._l1_put(key, rec)  # another process already refreshed it
                    return
                got = await self._l2_call(store.set_if_absent(lock, "1", self.lock_ttl))
                if got is False:
                    return  # another process is refreshing; its value lands in L2
                locked = got is True
            await self._fetch_and_store(key, fetch, ttl, codec, None)
        except Exception as exc:
            self.stats.refresh_errors += 1
            log.warning("background refresh of %s failed: %r", key, exc)
        finally:
            if locked and store is not None:
                await self._l2_call(store.delete(lock))

    # -- L1 / L2 plumbing ----------------------------------------------------------------

    def _encode(self, value: object, codec: Codec[Any] | None) -> bytes | None:
        try:
            return (codec or self.codec).dumps(value)
        except Exception as exc:  # not serialisable: L1 only
            log.debug("cache value not encodable (%r); kept in L1 only", exc)
            return None

    def _l1_put(self, key: str, rec: _Record, payload: bytes | None = None) -> None:
        if payload is not None:
            size = rec.size = len(payload) + 100
        elif rec.size:
            size = rec.size
        elif isinstance(rec.value, bytes | str):
            size = len(rec.value) + 100
        else:
            size = sys.getsizeof(rec.value) + 100
        keep = rec.ttl + max(rec.swr, rec.sie)
        self.l1.set(key, rec, size=size, expires_at=rec.stored_at + keep)

    def _l2_ready(self) -> Store | None:
        if self._l2 is None or (self._l2_backoff and time.monotonic() < self._l2_down_until):
            return None
        return self._l2

    async def _l2_call(self, op: Awaitable[T]) -> T:
        """Run one L2 operation; on failure count it, maybe enter an outage, return _FAILED."""
        try:
            async with asyncio.timeout(self._l2_timeout):
                result = await op
        except _L2_OUTAGE as exc:
            self.stats.l2_errors += 1
            self._l2_failed(exc)
            return cast(T, _FAILED)
        except Exception as exc:
            self.stats.l2_errors += 1
            log.warning("cache L2 operation failed: %r", exc)
            return cast(T, _FAILED)
        if self._l2_backoff:
            log.warning("cache L2 (%r) is back", self._l2)
            self._l2_backoff = 0.0
        return result

    def _l2_failed(self, exc: BaseException) -> None:
        if not self._l2_backoff:
            self.stats.l2_outages += 1
            log.warning("cache L2 (%r) unavailable, serving from L1 only: %r", self._l2, exc)
            self._l2_backoff = self._l2_retry_after
        elif time.monotonic() >= self._l2_down_until:  # a retry after backoff failed
            self._l2_backoff = min(self._l2_backoff * 2, _MAX_BACKOFF)
        self._l2_down_until = time.monotonic() + self._l2_backoff

    async def _l2_get(self, store: Store, key: str, codec: Codec[Any] | None) -> _Record | None:
        data = await self._l2_call(store.get(self._l2_key(key)))
        if data is _FAILED or data is None:
            return None
        try:
            return self._decode(data, codec)
        except Exception as exc:  # corrupt or foreign bytes: a miss, never a failure
            log.warning("undecodable cache record for %s: %r", key, exc)
            return None

    async def _l2_put(
        self, key: str, rec: _Record, payload: bytes, codec: Codec[Any] | None
    ) -> None:
        store = self._l2_ready()
        if store is None:
            return
        keep = rec.ttl + max(rec.swr, rec.sie)
        age = self._clock() - rec.stored_at
        stored_at = self._wall() - age
        if keep - age <= 0.001:
            return
        flags = _ERROR if rec.error is not None else 0
        header = _HEADER.pack(_VERSION, flags, stored_at, rec.ttl, rec.swr, rec.sie)
        await self._l2_call(store.set(self._l2_key(key), header + payload, keep - age))

    def _decode(self, data: bytes, codec: Codec[Any] | None) -> _Record:
        version, flags, stored_at, ttl, swr, sie = _HEADER.unpack_from(data)
        if version != _VERSION:
            raise ValueError(f"cache record version {version}")
        body = data[_HEADER.size :]
        age = max(0.0, self._wall() - stored_at)
        mono_at = self._clock() - age
        if flags & _ERROR:
            info = orjson.loads(body)
            err = CachedError(int(info["status"]), info.get("message"))
            rec = _Record(None, mono_at, ttl, swr, sie, err)
        else:
            rec = _Record((codec or self.codec).loads(body), mono_at, ttl, swr, sie)
        rec.size = len(data) + 100
        return rec

    # -- management ----------------------------------------------------------------------

    async def get(self, key: str, *, codec: Codec[Any] | None = None) -> CacheResult[Any] | None:
        """A fresh cached value (L1, then L2) without fetching; ``None`` when there is none."""
        rec = self.l1.get(key)
        if rec is None:
            store = self._l2_ready()
            if store is not None and (rec := await self._l2_get(store, key, codec)):
                self._l1_put(key, rec)
        if rec is None or rec.error is not None:
            return None
        age = self._clock() - rec.stored_at
        return CacheResult(rec.value, "hit", age) if age < rec.ttl else None

    async def set(
        self,
        key: str,
        value: T | CacheEntry[T],
        *,
        ttl: float | None = None,
        codec: Codec[Any] | None = None,
    ) -> bool:
        """Store ``value`` (e.g. to warm the cache); ``False`` if its policy says not to."""
        entry = value if isinstance(value, CacheEntry) else None
        timing = self._timing(entry, ttl)
        if timing is None:
            return False
        plain = entry.value if entry is not None else value
        rec = _Record(plain, self._clock(), *timing)
        payload = self._encode(plain, codec)
        self._l1_put(key, rec, payload)
        if payload is not None:
            await self._l2_put(key, rec, payload, codec)
        return True

    async def invalidate(self, key: str) -> None:
        """Forget ``key`` in L1 and L2 (a fetch already in flight may still store it)."""
        self.l1.delete(key)
        store = self._l2_ready()
        if store is not None:
            await self._l2_call(store.delete(self._l2_key(key)))

    async def aclose(self) -> None:
        """Cancel in-flight fetches and refreshes; close the Redis client if we made it."""
        self._closed = True
        await self._refreshes.aclose()
        await self._flights.aclose()
        if self._l2 is not None and self._owns_l2:
            await self._l2.close()

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _error_payload(exc: BaseException) -> bytes:
    """A cached failure as other processes see it: its status, its message when exposed."""
    message = exc.message if isinstance(exc, HttpError) and exc.expose else None
    return orjson.dumps({"status": error_status(exc), "message": message})


def _make_store(redis: object, timeout: float) -> tuple[Store | None, bool]:
    if redis is None:
        return None, False
    if isinstance(redis, Store):
        return redis, False
    from ..stores.redis import RedisStore

    if isinstance(redis, str):
        return RedisStore(redis, prefix="", timeout=timeout), True
    return RedisStore(cast("aioredis.Redis", redis), prefix=""), False
