"""The BFF cache: L1 in-process LRU, L2 Redis, stale serving, coalescing, negative caching.

One call does it all::

    cache = Cache(redis="redis://127.0.0.1:6379/0", default_ttl=30, stale_ttl=60)
    key = cache.key_for("GET", url, request_headers, vary=("accept-language",))
    result = await cache.get_or_fetch(key, fetch_user)    # result.value, .status, .age

A lookup goes L1 → L2 → upstream:

- **L1** (``LRU``) holds decoded values, bounded by entries and bytes. A fresh L1 hit never
  awaits: it is a dict lookup and a clock read.
- **L2** (a ``Store``, normally ``RedisStore``) holds encoded records shared by every
  process (format in ``_cache_l2``). A Redis outage drops to L1 alone, logged once per
  outage and counted; Redis is tried again after a backoff (1 s doubling to 30 s), never
  on every request while it is down.
- **Upstream** is called through a *flight* (``Coalescer``): N concurrent misses for one
  key make one call in this process. Across processes, the flight first takes a short
  Redis lock (SET NX PX); the holder fetches and writes L2, the others poll L2 briefly and
  take its value. The lock has a TTL, so a dead holder costs a wait, never a deadlock.

Freshness comes from the fetch's ``CacheEntry`` (explicit numbers, else the upstream's
``Cache-Control``/``Expires``/``Age`` read as a shared cache must, see ``cache_policy``),
else the call's ``ttl``, else ``default_ttl``. Within stale-while-revalidate the
stale value is served and one background refresh runs; within stale-if-error a failed
fetch answers with the stale value (``status == "stale"``, ``error`` set). Failures are
cached for ``negative_ttl`` seconds (off by default), as are ``negative_statuses``.

Conditional refreshes (``get_or_fetch(..., conditional=True)``, what ``cached_json``
asks for): a value stored with an ``ETag`` or ``Last-Modified`` keeps them, and is kept
``revalidate_ttl`` seconds past its stale windows. When it has to be fetched again (stale,
inline or in the background) the fetch finds the validators in ``stored_validators()``,
sends ``If-None-Match``/``If-Modified-Since``, and returns ``NotModified(headers=...)`` for
a ``304``: the stored value is served again, unparsed, with a new lifetime from the 304's
headers (the stored ``Cache-Control``/``Expires`` where it has none), and counted in
``stats.revalidations``/``stats.not_modified``. A ``NotModified`` with no validators
offered, or naming another ``ETag``, is the fetch's failure (``NotModifiedError``, 502).

Values in L1 are shared by every reader: treat them as immutable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ..stores.base import Store
from ._cache_l2 import L2, Record, error_payload, make_store
from .cache_policy import cache_key, etag_list_matches, freshness, parse_cache_control
from .cache_types import (
    CachedError,
    CacheEntry,
    CacheResult,
    CacheStats,
    Codec,
    JsonCodec,
    NotModified,
    NotModifiedError,
    Status,
    Validators,
)
from .coalesce import Coalescer
from .lru import LRU

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

__all__ = [
    "Cache",
    "CacheEntry",
    "CacheResult",
    "CacheStats",
    "CachedError",
    "Codec",
    "JsonCodec",
    "NotModified",
    "NotModifiedError",
    "Validators",
    "in_background_refresh",
    "stored_validators",
]

log = logging.getLogger("scallion.bff.cache")

T = TypeVar("T")
_Fetch = Callable[[], Awaitable[Any]]
_JSON = JsonCodec()
_PASS: Any = object()  # L1 marker: this key just answered uncacheable
_PASS_TTL = 5.0
_REFRESHING: ContextVar[bool] = ContextVar("scallion_cache_refreshing", default=False)
_VALIDATORS: ContextVar[Validators | None] = ContextVar("scallion_cache_validators", default=None)
_SAME: Any = object()  # _fetch_and_store: revalidate the fallback record
_MAX_EXPIRES = 64  # a longer Expires is no HTTP-date: kept as "0" (already expired)


def in_background_refresh() -> bool:
    """True inside a fetch the cache runs as a background (stale-while-revalidate) refresh.

    The request that found the value stale may be answered and gone by then, so a fetch
    can leave that request's deadline out of its call (``cached_json`` does).
    """
    return _REFRESHING.get()


def stored_validators() -> Validators | None:
    """Inside a fetch of a ``conditional=True`` call: the stored entry's validators.

    ``None`` when there is no stored entry with an ``ETag`` or ``Last-Modified`` to
    refresh; then the fetch must make an unconditional request (and may not answer
    ``NotModified``).
    """
    return _VALIDATORS.get()


class _Outcome:
    """What a flight hands its waiters."""

    __slots__ = ("age", "error", "private", "status", "stored", "value")

    def __init__(
        self,
        value: object,
        status: Status,
        age: float = 0.0,
        stored: bool = True,
        error: BaseException | None = None,
        private: bool = False,
    ) -> None:
        self.value = value
        self.status = status
        self.age = age
        self.stored = stored
        self.error = error
        self.private = private  # Cache-Control private/no-store: for its own caller only


class _Call:
    """One ``get_or_fetch`` that missed: what to fetch and how to store it."""

    __slots__ = (
        "cache_errors",
        "codec",
        "conditional",
        "fetch",
        "inline",
        "key",
        "sie",
        "swr",
        "ttl",
    )

    def __init__(
        self,
        key: str,
        fetch: _Fetch,
        ttl: float | None,
        codec: Codec[Any],
        cache_errors: bool,
        inline: bool,
        swr: float | None = None,
        sie: float | None = None,
        conditional: bool = False,
    ) -> None:
        self.key = key
        self.conditional = conditional  # the fetch can send validators, answer NotModified
        self.fetch = fetch
        self.ttl = ttl
        self.swr = swr  # this call's default stale windows (None: the cache's stale_ttl)
        self.sie = sie
        self.codec = codec
        self.cache_errors = cache_errors
        self.inline = inline  # refresh stale entries in the foreground


def _raise(err: BaseException) -> Any:
    # The same instance is raised again on every negative hit: drop the old traceback so it
    # cannot grow with each raise.
    raise err.with_traceback(None)


class Cache:
    """L1 + L2 cache with coalescing, stale serving and negative caching.

    Args:
        l1_max_entries, l1_max_bytes: bounds of the in-process LRU.
        redis: ``None`` (L1 only), a ``redis://`` or ``redis+cluster://`` URL, a
            ``redis.asyncio.Redis`` or ``RedisCluster`` client (a ``RedisStore`` is built on
            it), or any ``Store``.
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
        revalidate_ttl: seconds a value with an ``ETag``/``Last-Modified`` from a
            ``conditional=True`` call is kept past its stale windows, to be refreshed by
            a conditional request (never served without its ``304``); 0 turns it off.

    Lock waits and L2 backoffs are real time (``time.monotonic``), not ``clock``.
    """

    def __init__(
        self,
        *,
        l1_max_entries: int = 10_000,
        l1_max_bytes: int = 64 * 2**20,
        redis: str | aioredis.Redis | RedisCluster | Store | None = None,
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
        revalidate_ttl: float = 60.0,
    ) -> None:
        for name, value in (
            ("default_ttl", default_ttl),
            ("stale_ttl", stale_ttl),
            ("negative_ttl", negative_ttl),
            ("max_ttl", max_ttl),
            ("revalidate_ttl", revalidate_ttl),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
        if lock_ttl <= 0 or l2_timeout <= 0 or l2_retry_after <= 0:
            raise ValueError("lock_ttl, l2_timeout and l2_retry_after must be > 0 seconds")
        self.l1: LRU[Record] = LRU(l1_max_entries, l1_max_bytes, clock=clock)
        self._slots = self.l1.slots  # read directly by ``fresh``, the hit path
        self.stats = CacheStats()
        self.default_ttl = float(default_ttl)
        self.stale_ttl = float(stale_ttl)
        self.negative_ttl = float(negative_ttl)
        self.negative_statuses = frozenset(negative_statuses)
        self.max_ttl = float(max_ttl)
        self.revalidate_ttl = float(revalidate_ttl)
        self.namespace = namespace
        self.codec = codec
        self.lock_ttl = lock_ttl
        self.lock_wait = lock_ttl if lock_wait is None else lock_wait
        self._clock = clock
        self._wall = wall_clock
        store, owns = make_store(redis, l2_timeout)
        self.l2: L2 | None = None
        if store is not None:
            self.l2 = L2(
                store,
                owns=owns,
                namespace=namespace,
                stats=self.stats,
                clock=clock,
                wall_clock=wall_clock,
                timeout=l2_timeout,
                retry_after=l2_retry_after,
            )
        self._flights: Coalescer[_Outcome] = Coalescer()
        self._refreshes: Coalescer[None] = Coalescer()
        self._closed = False

    def __repr__(self) -> str:
        return f"Cache(namespace={self.namespace!r}, l1={self.l1!r}, l2={self.l2!r})"

    @staticmethod
    def key_for(
        method: str, url: str, headers: Mapping[str, str] | None = None, vary: Iterable[str] = ()
    ) -> str:
        """The key for ``method`` + normalised ``url`` + the ``vary`` headers' values."""
        return cache_key(method, url, headers, vary)

    # -- the hot path --------------------------------------------------------------------

    @overload
    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[CacheEntry[T]]],
        *,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        codec: Codec[Any] | None = None,
        share_uncacheable: bool = True,
        cache_errors: bool = True,
        revalidate: Literal["background", "inline"] = "background",
        conditional: bool = False,
    ) -> CacheResult[T]: ...

    @overload
    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[CacheEntry[T] | NotModified]],
        *,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        codec: Codec[Any] | None = None,
        share_uncacheable: bool = True,
        cache_errors: bool = True,
        revalidate: Literal["background", "inline"] = "background",
        conditional: bool = False,
    ) -> CacheResult[T]: ...

    @overload
    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        codec: Codec[Any] | None = None,
        share_uncacheable: bool = True,
        cache_errors: bool = True,
        revalidate: Literal["background", "inline"] = "background",
        conditional: bool = False,
    ) -> CacheResult[T]: ...

    async def get_or_fetch(
        self,
        key: str,
        fetch: Callable[[], Awaitable[Any]],
        *,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        codec: Codec[Any] | None = None,
        share_uncacheable: bool = True,
        cache_errors: bool = True,
        revalidate: Literal["background", "inline"] = "background",
        conditional: bool = False,
    ) -> CacheResult[Any]:
        """The value for ``key``: cached, or from ``fetch()`` (once for all concurrent callers).

        Args:
            fetch: makes the upstream call; returns the value or a ``CacheEntry``.
            ttl: freshness for this call when the fetch's headers give no lifetime.
            stale_while_revalidate, stale_if_error: this call's stale windows when the
                fetch's headers give none (default: the cache's ``stale_ttl``).
            codec: how this value is stored in L2 (default: the cache's codec).
            share_uncacheable: when false, concurrent callers only share a result that
                was cached; after an uncacheable result or a failure each one calls its
                own ``fetch``. A result marked ``Cache-Control: private`` or ``no-store``
                is never handed to another caller, whatever this says.
            cache_errors: when false, this call's failures are never negative-cached.
            revalidate: how a stale-while-revalidate entry is refreshed: by a background
                task (``fetch`` must not depend on the caller still running), or
                ``"inline"``: the first caller to see it stale fetches in the foreground
                while everyone else is served the stale value (what a response cache
                needs, since its fetch is the rest of one request's middleware chain).
            conditional: ``fetch`` makes conditional requests: it reads
                ``stored_validators()`` and may return ``NotModified`` (see the module
                docstring). Values it stores keep their validators.

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
                return CacheResult(rec.value, "hit", age)
            if age < rec.ttl + rec.swr and rec.error is None:
                inline = revalidate == "inline"
                if not inline or key in self._flights:
                    self.stats.stale += 1
                    if not inline and key not in self._refreshes:
                        call = _Call(
                            key,
                            fetch,
                            ttl,
                            codec or self.codec,
                            cache_errors,
                            False,
                            stale_while_revalidate,
                            stale_if_error,
                            conditional,
                        )
                        self._revalidate(call)
                    return CacheResult(rec.value, "stale", age)
        call = _Call(
            key,
            fetch,
            ttl,
            codec or self.codec,
            cache_errors,
            revalidate == "inline",
            stale_while_revalidate,
            stale_if_error,
            conditional,
        )
        return await self._load(call, share_uncacheable, rec)

    def peek(self, key: str) -> CacheResult[Any] | None:
        """A fresh L1 hit, synchronously (no I/O, no await); ``None`` for anything else.

        The hot path for callers that cannot afford a coroutine per hit: on ``None`` they
        go on to ``get_or_fetch``, which handles stale values, L2 and cached failures.
        """
        found = self.fresh(key)
        return None if found is None else CacheResult(found[0], "hit", found[1])

    def fresh(self, key: str) -> tuple[Any, float] | None:
        """``(value, age)`` of a fresh L1 hit, or ``None``: ``peek`` without a result object.

        The response cache's hit path. It reads the LRU's table itself rather than through
        ``LRU.get``: a fresh record is never past its LRU expiry (that is ``stored_at +
        keep``, and ``keep >= ttl``, on the same clock), so one probe and one clock read
        decide it. Against ``peek`` (``LRU.get``, a second clock read, a ``CacheResult``)
        this saves ~4.5k of ~110k instructions per cached request (callgrind,
        ``python -m bench.bff.inproc --callgrind``).
        """
        slot = self._slots.get(key)
        if slot is None:
            return None
        rec = slot.value
        age = self._clock() - rec.stored_at
        if age >= rec.ttl or rec.error is not None:
            return None
        self._slots.move_to_end(key)
        self.stats.hits += 1
        return rec.value, age

    async def _load(self, call: _Call, share: bool, rec: Record | None) -> CacheResult[Any]:
        if self._closed:
            raise RuntimeError("Cache is closed")
        key = call.key
        fallback = rec if rec is not None and rec.error is None else None
        if fallback is not None and fallback.value is _PASS:
            # Recently uncacheable: skip the cross-process lock (it would serialise every
            # process on this key) and, unless sharing is allowed, coalescing too.
            if not share:
                return await self._own_fetch(call)
            factory = lambda: self._fetch_and_store(call, None)  # noqa: E731
        else:
            factory = lambda: self._fill(call, fallback)  # noqa: E731
        joined = key in self._flights
        try:
            outcome, joined = await self._flights.run(key, factory)
        except Exception:
            if joined and not share:
                return await self._own_fetch(call)
            raise
        if joined and (outcome.private or (not share and not outcome.stored)):
            return await self._own_fetch(call)
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

    async def _own_fetch(self, call: _Call) -> CacheResult[Any]:
        """A caller that may not share another's answer fetches for itself."""
        self.stats.misses += 1
        outcome = await self._fetch_and_store(call, None)
        return CacheResult(outcome.value, "miss")

    # -- filling: L2, the cross-process lock, upstream --------------------------------------

    async def _fill(self, call: _Call, fallback: Record | None) -> _Outcome:
        """One flight: L2, then (holding the cross-process lock) upstream."""
        l2 = self.l2
        if l2 is None or not l2.ready:
            return await self._fetch_and_store(call, fallback)
        rec = await l2.get(call.key, call.codec)
        if rec is not None:
            outcome = self._from_l2(call, rec, "hit")
            if outcome is not None:
                return outcome
            if rec.error is None and (fallback is None or rec.stored_at > fallback.stored_at):
                fallback = rec
        return await self._fill_locked(l2, call, fallback)

    def _from_l2(self, call: _Call, rec: Record, status: Status) -> _Outcome | None:
        """An answer from an L2 record (copied into L1), or ``None`` if it is too old."""
        age = self._clock() - rec.stored_at
        if age < rec.ttl:
            self.stats.l2_hits += 1
            self._l1_put(call.key, rec)
            if rec.error is not None:
                self.stats.negative_hits += 1
                _raise(rec.error)
            return _Outcome(rec.value, status, age)
        if age < rec.ttl + rec.swr and rec.error is None and not call.inline:
            self.stats.l2_hits += 1
            self._l1_put(call.key, rec)
            self._revalidate(call)
            return _Outcome(rec.value, "stale", age)
        return None

    async def _fill_locked(self, l2: L2, call: _Call, fallback: Record | None) -> _Outcome:
        """Fetch under the cross-process lock, or take the lock holder's value from L2."""
        key = call.key
        token = os.urandom(8).hex()
        deadline = time.monotonic() + self.lock_wait
        delay = 0.002
        while True:
            got = await l2.try_lock(key, token, self.lock_ttl)
            if got is None:  # L2 failed: fetch without it
                break
            if got:
                try:
                    # The value may have landed between our L2 read and taking the lock.
                    rec = await l2.get(key, call.codec)
                    if rec is not None:
                        outcome = self._from_l2(call, rec, "coalesced")
                        if outcome is not None:
                            return outcome
                    return await self._fetch_and_store(call, fallback)
                finally:
                    await l2.unlock(key)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            rec = await l2.get(key, call.codec)
            if rec is not None:
                outcome = self._from_l2(call, rec, "coalesced")
                if outcome is not None:
                    return outcome
        return await self._fetch_and_store(call, fallback)

    async def _fetch_and_store(
        self, call: _Call, fallback: Record | None, base: Record | None = _SAME
    ) -> _Outcome:
        """Fetch, store, answer; ``base`` is the stored record a conditional fetch refreshes
        (by default ``fallback``, the one a failure may answer with)."""
        key = call.key
        sent = self._offer(call, fallback if base is _SAME else base)
        self.stats.upstream_calls += 1
        try:
            got = await self._run_fetch(call, sent)
        except Exception as exc:
            self.stats.upstream_errors += 1
            if fallback is not None:
                age = self._clock() - fallback.stored_at
                # An inline refresh stands for a background one: within stale-while-
                # revalidate a failure keeps the stale value, as a failed refresh would.
                window = max(fallback.sie, fallback.swr) if call.inline else fallback.sie
                if age < fallback.ttl + window:
                    log.info("serving stale %s after upstream error: %r", key, exc)
                    return _Outcome(fallback.value, "stale", age, True, exc)
            if self.negative_ttl > 0 and call.cache_errors:
                rec = Record(None, self._clock(), self.negative_ttl, 0.0, 0.0, exc)
                self._l1_put(key, rec)
                if self.l2 is not None:
                    await self.l2.put(key, rec, error_payload(exc))
            raise
        hold = 0.0
        meta: Validators | None = None
        if isinstance(got, NotModified):
            assert sent is not None
            self.stats.not_modified += 1
            value = sent.value
            entry: CacheEntry[Any] | None = _updated(value, sent.meta, got)
        elif isinstance(got, CacheEntry):
            entry = got
            value = got.value
        else:
            entry, value = None, got
        if call.conditional and entry is not None and (entry.etag or entry.last_modified):
            hold = self.revalidate_ttl
            expires = entry.expires
            if expires is not None and len(expires) > _MAX_EXPIRES:
                expires = "0"
            meta = Validators(entry.etag, entry.last_modified, entry.cache_control, expires)
        timing = self._timing(entry, call.ttl, call.swr, call.sie, hold)
        if timing is None:
            # Never fresh, never served stale: it only routes the next callers for a few
            # seconds past the cross-process lock (see _load).
            self._l1_put(key, Record(_PASS, self._clock(), 0.0, 0.0, _PASS_TTL))
            private = False
            if entry is not None:
                cc = entry.cache_control
                private = entry.private or (cc is not None and parse_cache_control(cc).private)
            return _Outcome(value, "miss", 0.0, False, None, private)
        await self._store(key, value, timing, call.codec, meta, hold if meta else 0.0)
        return _Outcome(value, "miss")

    def _offer(self, call: _Call, base: Record | None) -> Record | None:
        """The stored record whose validators a conditional fetch may send, if any."""
        if not call.conditional or base is None or base.meta is None or base.error is not None:
            return None
        return base

    async def _run_fetch(self, call: _Call, sent: Record | None) -> Any:
        """``call.fetch()`` with ``stored_validators()`` set for it; checks a ``NotModified``."""
        if not call.conditional and _VALIDATORS.get() is None:
            got = await call.fetch()
        else:
            # Set for conditional calls, and cleared for others that run inside one's fetch.
            token = _VALIDATORS.set(sent.meta if sent is not None else None)
            if sent is not None:
                self.stats.revalidations += 1
            try:
                got = await call.fetch()
            finally:
                _VALIDATORS.reset(token)
        if isinstance(got, NotModified):
            if sent is None or sent.meta is None:
                raise NotModifiedError(
                    "the fetch answered Not Modified (304) but no stored entry was offered "
                    "for revalidation: there is nothing to serve"
                )
            tag = sent.meta.etag
            if tag is not None and got.etag is not None and not etag_list_matches(got.etag, tag):
                raise NotModifiedError(
                    "the fetch answered Not Modified (304) with another ETag than the "
                    "stored entry's: the stored value cannot be served"
                )
        return got

    async def _store(
        self,
        key: str,
        value: object,
        timing: tuple[float, float, float],
        codec: Codec[Any],
        meta: Validators | None = None,
        hold: float = 0.0,
    ) -> None:
        rec = Record(value, self._clock(), *timing, None, meta, hold)
        try:
            payload: bytes | None = codec.dumps(value)
        except Exception as exc:  # not serialisable: L1 only
            log.debug("cache value for %s not encodable (%r); kept in L1 only", key, exc)
            payload = None
        self._l1_put(key, rec, payload)
        if payload is not None and self.l2 is not None:
            await self.l2.put(key, rec, payload)

    def _timing(
        self,
        entry: CacheEntry[Any] | None,
        ttl: float | None,
        swr: float | None = None,
        sie: float | None = None,
        hold: float = 0.0,
    ) -> tuple[float, float, float] | None:
        """(fresh, swr, sie) seconds for a fetched value, or ``None``: do not store.

        ``hold`` > 0 (a value kept for conditional refreshes) stores it even when it
        arrived stale: it can then only answer after a ``304``.
        """
        fresh = self.default_ttl if ttl is None else ttl
        swr = self.stale_ttl if swr is None else swr
        sie = self.stale_ttl if sie is None else sie
        validate_only = False  # no-cache: kept, but never served without a 304
        if entry is not None:
            if not entry.store:
                return None
            if entry.cache_control or entry.expires is not None or entry.age is not None:
                timing = freshness(
                    entry.cache_control,
                    entry.expires,
                    entry.date,
                    entry.age,
                    now=self._wall(),
                    ttl=fresh,
                    stale_while_revalidate=swr,
                    stale_if_error=sie,
                    revalidatable=hold > 0,
                )
                if timing is None:
                    return None
                fresh, swr, sie = timing
                cc = entry.cache_control
                validate_only = cc is not None and parse_cache_control(cc).no_store
            if entry.ttl is not None:
                fresh = entry.ttl
            if entry.stale_while_revalidate is not None:
                swr = entry.stale_while_revalidate
            if entry.stale_if_error is not None:
                sie = entry.stale_if_error
            if entry.status is not None and entry.status in self.negative_statuses:
                fresh, swr, sie = min(fresh, self.negative_ttl), 0.0, 0.0
            if validate_only:  # what the call or the entry says cannot stretch no-cache
                fresh, swr, sie = 0.0, 0.0, 0.0
        fresh = min(fresh, self.max_ttl)
        swr = min(swr, self.max_ttl)
        sie = min(sie, self.max_ttl)
        if fresh + max(swr, sie) <= 0 and hold <= 0:
            return None
        return fresh, swr, sie

    def _l1_put(self, key: str, rec: Record, payload: bytes | None = None) -> None:
        if payload is not None:
            size = rec.size = len(payload) + 100
        elif rec.size:
            size = rec.size
        elif isinstance(rec.value, bytes | str):
            size = len(rec.value) + 100
        else:
            size = sys.getsizeof(rec.value) + 100
        self.l1.set(key, rec, size=size, expires_at=rec.stored_at + rec.keep)

    # -- stale-while-revalidate ----------------------------------------------------------

    def _revalidate(self, call: _Call) -> None:
        """Start one background refresh for ``call.key`` unless one is running already."""
        if not self._closed and self._refreshes.start(call.key, lambda: self._refresh(call)):
            self.stats.refreshes += 1

    async def _refresh(self, call: _Call) -> None:
        _REFRESHING.set(True)  # this task's own context: it never leaks to a request
        l2 = self.l2
        locked = False
        base = self.l1.get(call.key)  # the stale record: a conditional fetch refreshes it
        try:
            if l2 is not None and l2.ready:
                rec = await l2.get(call.key, call.codec)
                if rec is not None and self._clock() - rec.stored_at < rec.ttl:
                    self._l1_put(call.key, rec)  # another process refreshed it already
                    return
                if rec is not None and (base is None or rec.stored_at > base.stored_at):
                    base = rec
                got = await l2.try_lock(call.key, os.urandom(8).hex(), self.lock_ttl)
                if got is False:
                    return  # another process is refreshing; its value lands in L2
                locked = bool(got)
            await self._fetch_and_store(call, None, base)
        except Exception as exc:
            self.stats.refresh_errors += 1
            log.warning("background refresh of %s failed: %r", call.key, exc)
        finally:
            if locked and l2 is not None:
                await l2.unlock(call.key)

    # -- management ----------------------------------------------------------------------

    async def get(self, key: str, *, codec: Codec[Any] | None = None) -> CacheResult[Any] | None:
        """A fresh cached value (L1, then L2) without fetching; ``None`` when there is none."""
        rec = self.l1.get(key)
        l2 = self.l2
        stale = rec is None or self._clock() - rec.stored_at >= rec.ttl
        if stale and l2 is not None and l2.ready:
            rec = await l2.get(key, codec or self.codec)
            if rec is not None:
                self._l1_put(key, rec)
        if rec is None or rec.error is not None:
            return None
        age = self._clock() - rec.stored_at
        return CacheResult(rec.value, "hit", age) if age < rec.ttl else None

    async def set(
        self,
        key: str,
        value: object,
        *,
        ttl: float | None = None,
        codec: Codec[Any] | None = None,
    ) -> bool:
        """Store a value or ``CacheEntry`` (to warm the cache); ``False`` if it may not be."""
        entry = value if isinstance(value, CacheEntry) else None
        timing = self._timing(entry, ttl)
        if timing is None:
            return False
        plain = entry.value if entry is not None else value
        await self._store(key, plain, timing, codec or self.codec)
        return True

    async def invalidate(self, key: str) -> None:
        """Forget ``key`` in L1 and L2 (a fetch already in flight may still store it)."""
        self.l1.delete(key)
        if self.l2 is not None:
            await self.l2.delete(key)

    async def aclose(self) -> None:
        """Cancel in-flight fetches and refreshes; close the Redis client if we made it."""
        self._closed = True
        await self._refreshes.aclose()
        await self._flights.aclose()
        if self.l2 is not None:
            await self.l2.close()

    async def __aenter__(self) -> Cache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _updated(value: object, meta: Validators | None, got: NotModified) -> CacheEntry[Any]:
    """The stored entry with a 304's headers applied (RFC 9111 §4.3.4).

    The 304's ``Cache-Control``, ``Expires``, ``ETag`` and ``Last-Modified`` replace the
    stored ones; the stored ones stay where it has none. Its ``Date`` and ``Age`` time it.
    """
    old = meta or Validators()
    return CacheEntry(
        value,
        cache_control=got.cache_control if got.cache_control is not None else old.cache_control,
        expires=got.expires if got.expires is not None else old.expires,
        date=got.date,
        age=got.age,
        etag=got.etag or old.etag,
        last_modified=got.last_modified or old.last_modified,
    )
