"""The cache's public value types: what a fetch returns, what a lookup answers, counters.

``CacheEntry`` lets a fetch say how its value may be cached (the upstream's headers, its
status, explicit TTLs, its validators). ``NotModified`` is what a conditional fetch returns
for a ``304``; ``Validators`` is what such a fetch is given to send. ``CacheResult`` is a
value plus where it came from. ``Codec`` turns values into L2 bytes; ``JsonCodec`` is the
default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

import orjson

from ..errors import HttpError
from .cache_policy import header_line, valid_etag, valid_last_modified

__all__ = [
    "CacheEntry",
    "CacheResult",
    "CacheStats",
    "CachedError",
    "Codec",
    "JsonCodec",
    "NotModified",
    "NotModifiedError",
    "Status",
    "Validators",
]

T = TypeVar("T")
Status = Literal["hit", "miss", "stale", "coalesced"]


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


class Validators(NamedTuple):
    """A stored entry's validators, and the freshness headers a ``304`` may leave out.

    A conditional fetch sends ``request_headers()``; when the ``304`` carries no
    ``Cache-Control``/``Expires`` of its own the stored ones give the new lifetime
    (RFC 9111 §4.3.4: the 304's header fields replace the stored ones, the rest stay).
    """

    etag: str | None = None
    last_modified: str | None = None
    cache_control: str | None = None
    expires: str | None = None

    def request_headers(self) -> dict[str, str]:
        """``If-None-Match`` and/or ``If-Modified-Since`` for a conditional request."""
        sent: dict[str, str] = {}
        if self.etag is not None:
            sent["if-none-match"] = self.etag
        if self.last_modified is not None:
            sent["if-modified-since"] = self.last_modified
        return sent


class NotModified:
    """What a conditional fetch returns for ``304 Not Modified``: keep the stored value.

    Args:
        headers: the 304's headers: ``Cache-Control``, ``Expires``, ``Date``, ``Age``,
            ``ETag`` and ``Last-Modified`` are read from them (values given below win).
    """

    __slots__ = ("age", "cache_control", "date", "etag", "expires", "last_modified")

    def __init__(
        self,
        *,
        headers: Mapping[str, str | list[str]] | Mapping[str, str] | None = None,
        cache_control: str | None = None,
        expires: str | None = None,
        date: str | None = None,
        age: float | str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        if headers is not None:
            cache_control = cache_control or header_line(headers, "cache-control")
            expires = expires or header_line(headers, "expires")
            date = date or header_line(headers, "date")
            age = header_line(headers, "age") if age is None else age
            etag = etag or header_line(headers, "etag")
            last_modified = last_modified or header_line(headers, "last-modified")
        self.cache_control = cache_control
        self.expires = expires
        self.date = date
        self.age = age
        self.etag = valid_etag(etag)
        self.last_modified = valid_last_modified(last_modified)

    def __repr__(self) -> str:
        return f"NotModified(etag={self.etag!r}, cache_control={self.cache_control!r})"


class CacheEntry(Generic[T]):
    """What a fetch may return instead of a bare value, to say how to cache it.

    Args:
        value: what callers get.
        headers: the upstream response's headers: ``Cache-Control``, ``Expires``, ``Date``
            and ``Age`` are read from them (values given below win).
        cache_control: the upstream's ``Cache-Control`` header, obeyed as a shared cache.
        expires, date: its ``Expires`` and ``Date`` headers (used without a ``max-age``).
        age: its ``Age`` header (seconds, or the header's text); it shortens freshness.
        etag, last_modified: its validators (``ETag``, ``Last-Modified``), kept for
            conditional refreshes when the call asks for them; malformed ones are dropped.
        status: the upstream HTTP status; one of ``negative_statuses`` caps the TTL at
            ``negative_ttl``.
        ttl, stale_while_revalidate, stale_if_error: explicit seconds; they win over the
            headers.
        store: ``False`` returns the value without caching it.
        private: the value was made for this caller alone (it depends on something the key
            does not hold): never stored, and never handed to a coalesced caller.
    """

    __slots__ = (
        "age",
        "cache_control",
        "date",
        "etag",
        "expires",
        "last_modified",
        "private",
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
        headers: Mapping[str, str | list[str]] | None = None,
        cache_control: str | None = None,
        expires: str | None = None,
        date: str | None = None,
        age: float | str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        status: int | None = None,
        ttl: float | None = None,
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        store: bool = True,
        private: bool = False,
    ) -> None:
        if headers is not None:
            cache_control = (
                header_line(headers, "cache-control") if cache_control is None else cache_control
            )
            expires = header_line(headers, "expires") if expires is None else expires
            date = header_line(headers, "date") if date is None else date
            age = header_line(headers, "age") if age is None else age
            etag = header_line(headers, "etag") if etag is None else etag
            if last_modified is None:
                last_modified = header_line(headers, "last-modified")
        self.value = value
        self.etag = valid_etag(etag)
        self.last_modified = valid_last_modified(last_modified)
        self.cache_control = cache_control
        self.expires = expires
        self.date = date
        self.age = age
        self.status = status
        self.ttl = ttl
        self.stale_while_revalidate = stale_while_revalidate
        self.stale_if_error = stale_if_error
        self.store = store and not private
        self.private = private

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
        "not_modified",
        "refresh_errors",
        "refreshes",
        "revalidations",
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
        self.revalidations = 0  # conditional fetches (the stored entry's validators sent)
        self.not_modified = 0  # of those, answered 304: the stored value served, refreshed

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"CacheStats({self.as_dict()})"


class CachedError(HttpError):
    """A failure cached in L2 by another process, raised again with its status."""


class NotModifiedError(HttpError):
    """A fetch answered ``NotModified`` that the cache cannot honour (502 Bad Gateway).

    No validator was offered to it, or the 304 names another representation than the
    stored one: either way there is nothing to serve, so it is that call's failure.
    """

    def __init__(self, message: str) -> None:
        super().__init__(502, message, expose=False)
