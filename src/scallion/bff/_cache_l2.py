"""The cache's shared tier: records in a ``Store`` (Redis), degrading when it is down.

A record is a 34-byte header, then the codec's payload::

    version (B) | flags (B) | stored_at (d, epoch s) | ttl (d) | swr (d) | sie (d) | payload

Version 2 (a record kept for conditional refreshes) puts its validators between the two:
``length (H) | JSON [etag, last_modified, cache_control, expires, hold]``. Records without
validators are still written as version 1, so processes that predate version 2 read them;
such a process sees a version 2 record as unreadable, which is a miss, never a failure.

``stored_at`` is wall-clock time because other processes (other machines) read it; it is
turned into the reader's own monotonic clock on the way in. A cached failure (flag 1)
carries only its status and, when it may be shown, its message: never a pickled object.

Every operation is bounded by a timeout. A connection failure starts an *outage*: logged
once, counted, and for a backoff (``retry_after`` doubling to 30 s) the tier answers "not
ready" without a round trip; the first operation after the backoff is the probe.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson

from ..errors import HttpError, error_status
from ..stores.base import Store, StoreUnavailable
from .cache_policy import valid_etag, valid_last_modified
from .cache_types import CachedError, CacheStats, Codec, Validators

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

__all__ = ["FAILED", "L2", "Record"]

log = logging.getLogger("scallion.bff.cache")

T = TypeVar("T")

_HEADER = struct.Struct("<BBdddd")
_META = struct.Struct("<H")
_VERSION = 1
_VERSION_META = 2
_ERROR = 1  # flag: the record is a cached failure
_OUTAGE = (StoreUnavailable, OSError, TimeoutError)
_MAX_BACKOFF = 30.0

FAILED: Any = object()
"""What ``L2.call`` returns for an operation that failed (already counted and logged)."""


class Record:
    """One cached value (or failure) with its timing; ``stored_at`` is on the cache clock.

    ``meta`` holds the validators of a value a conditional fetch may refresh, and ``hold``
    the seconds such a record is kept past its stale windows for that alone: in that time
    it is never served without a ``304`` first.
    """

    __slots__ = ("error", "hold", "meta", "sie", "size", "stored_at", "swr", "ttl", "value")

    def __init__(
        self,
        value: object,
        stored_at: float,
        ttl: float,
        swr: float,
        sie: float,
        error: BaseException | None = None,
        meta: Validators | None = None,
        hold: float = 0.0,
    ) -> None:
        self.value = value
        self.meta = meta
        self.hold = hold
        self.stored_at = stored_at
        self.ttl = ttl
        self.swr = swr
        self.sie = sie
        self.error = error
        self.size = 0  # encoded bytes, when known

    @property
    def keep(self) -> float:
        """Seconds from ``stored_at`` during which the record may answer or be revalidated."""
        keep = self.ttl + max(self.swr, self.sie)
        return max(keep, 0.0) + self.hold if self.hold else keep


def error_payload(exc: BaseException) -> bytes:
    """A failure as other processes see it: its status, and its message when exposed."""
    message = exc.message if isinstance(exc, HttpError) and exc.expose else None
    return orjson.dumps({"status": error_status(exc), "message": message})


def make_store(redis: object, timeout: float) -> tuple[Store | None, bool]:
    """``(store, owned)`` from what ``Cache(redis=...)`` accepts."""
    if redis is None:
        return None, False
    if isinstance(redis, Store):
        return redis, False
    from ..stores.redis import RedisStore

    if isinstance(redis, str):
        return RedisStore(redis, prefix="", timeout=timeout), True
    return RedisStore(cast("aioredis.Redis | RedisCluster", redis), prefix=""), False


class L2:
    """Records under ``namespace`` in a ``Store``, with outage handling."""

    __slots__ = (
        "_backoff",
        "_clock",
        "_down_until",
        "_owns",
        "_retry_after",
        "_timeout",
        "_wall",
        "namespace",
        "stats",
        "store",
    )

    def __init__(
        self,
        store: Store,
        *,
        owns: bool,
        namespace: str,
        stats: CacheStats,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        timeout: float,
        retry_after: float,
    ) -> None:
        self.store = store
        self._owns = owns
        self.namespace = namespace
        self.stats = stats
        self._clock = clock
        self._wall = wall_clock
        self._timeout = timeout
        self._retry_after = retry_after
        self._down_until = 0.0  # time.monotonic() before which the tier is skipped
        self._backoff = 0.0  # 0.0 while up

    def __repr__(self) -> str:
        return f"L2({self.store!r}, namespace={self.namespace!r})"

    @property
    def ready(self) -> bool:
        """False during an outage's backoff: callers skip L2 without a round trip."""
        return not self._backoff or time.monotonic() >= self._down_until

    def data_key(self, key: str) -> str:
        return f"{self.namespace}:v:{key}"

    def lock_key(self, key: str) -> str:
        return f"{self.namespace}:lock:{key}"

    async def call(self, op: Awaitable[T]) -> T:
        """Run one operation; on failure count it (maybe start an outage), return FAILED."""
        try:
            async with asyncio.timeout(self._timeout):
                result = await op
        except _OUTAGE as exc:
            self.stats.l2_errors += 1
            self._failed(exc)
            return FAILED  # type: ignore[no-any-return]
        except Exception as exc:
            self.stats.l2_errors += 1
            log.warning("cache L2 operation failed: %r", exc)
            return FAILED  # type: ignore[no-any-return]
        if self._backoff:
            log.warning("cache L2 (%r) is back", self.store)
            self._backoff = 0.0
        return result

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if not self._backoff:
            self.stats.l2_outages += 1
            log.warning("cache L2 (%r) unavailable, serving from L1 only: %r", self.store, exc)
            self._backoff = self._retry_after
        elif now >= self._down_until:  # the probe after a backoff failed too
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
        self._down_until = now + self._backoff

    async def get(self, key: str, codec: Codec[Any]) -> Record | None:
        """The record for ``key``; ``None`` when absent, unreadable or L2 is down."""
        data = await self.call(self.store.get(self.data_key(key)))
        if data is FAILED or data is None:
            return None
        try:
            return self._decode(data, codec)
        except Exception as exc:  # corrupt or foreign bytes: a miss, never a failure
            log.warning("undecodable cache record for %s: %r", key, exc)
            return None

    async def put(self, key: str, rec: Record, payload: bytes) -> None:
        """Store ``rec`` (its payload already encoded) for as long as it may answer."""
        if not self.ready:
            return
        age = self._clock() - rec.stored_at
        remaining = rec.keep - age
        if remaining <= 0.001:
            return
        flags = _ERROR if rec.error is not None else 0
        meta = rec.meta
        version = _VERSION if meta is None else _VERSION_META
        header = _HEADER.pack(version, flags, self._wall() - age, rec.ttl, rec.swr, rec.sie)
        if meta is not None:
            extra = orjson.dumps([*meta, rec.hold])
            header += _META.pack(len(extra)) + extra
        await self.call(self.store.set(self.data_key(key), header + payload, remaining))

    async def delete(self, key: str) -> None:
        if self.ready:
            await self.call(self.store.delete(self.data_key(key)))

    async def try_lock(self, key: str, token: str, ttl: float) -> bool | None:
        """Take the fetch lock for ``key``: True/False, or ``None`` when L2 failed."""
        if not self.ready:
            return None
        got = await self.call(self.store.set_if_absent(self.lock_key(key), token, ttl))
        return None if got is FAILED else bool(got)

    async def unlock(self, key: str) -> None:
        # A plain delete: if our lock already expired and another holder took it, the worst
        # outcome is one extra fetch; the lock's TTL bounds everything else.
        if self.ready:
            await self.call(self.store.delete(self.lock_key(key)))

    def _decode(self, data: bytes, codec: Codec[Any]) -> Record:
        version, flags, stored_at, ttl, swr, sie = _HEADER.unpack_from(data)
        start = _HEADER.size
        meta: Validators | None = None
        hold = 0.0
        if version == _VERSION_META:
            (size,) = _META.unpack_from(data, start)
            etag, modified, cc, expires, hold = orjson.loads(data[start + 2 : start + 2 + size])
            meta = Validators(
                valid_etag(_text(etag)),
                valid_last_modified(_text(modified)),
                _text(cc),
                _text(expires),
            )
            hold = float(hold)
            start += 2 + size
        elif version != _VERSION:
            raise ValueError(f"cache record version {version}")
        body = data[start:]
        age = max(0.0, self._wall() - stored_at)
        stored_here = self._clock() - age
        if flags & _ERROR:
            info = orjson.loads(body)
            err = CachedError(int(info["status"]), info.get("message"))
            rec = Record(None, stored_here, ttl, swr, sie, err)
        else:
            rec = Record(codec.loads(body), stored_here, ttl, swr, sie, None, meta, hold)
        rec.size = len(data) + 100
        return rec

    async def close(self) -> None:
        """Close the store if the cache built it from a URL."""
        if self._owns:
            await self.store.close()


def _text(value: object) -> str | None:
    """A validator read from L2: a string or nothing (a foreign record gives no others)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("cache record validator is not a string")
    return value
