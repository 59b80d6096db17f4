"""``response_cache``: whole responses (status, headers, body) cached as onion middleware.

    app.use(response_cache(ttl=30, vary=("accept-language",)))
    # or share one Cache (and its Redis) with the upstream client:
    app.use(response_cache(store=cache, ttl=30))

A hit answers without running the rest of the chain and carries ``X-Cache: HIT`` (or
``STALE`` inside a stale window) and ``Age``; a miss runs the chain and says ``X-Cache:
MISS``. Concurrent identical misses run the chain once when the result is cacheable.
HEAD is answered from the GET entry (and fills it).

What is cached: responses to ``methods`` with a status in ``statuses`` (200) and a body
that is bytes, text or JSON. Never cached: streamed bodies, responses with ``Set-Cookie``,
``Cache-Control: private`` / ``no-store`` / ``no-cache``, or a ``Vary`` naming a header
outside ``vary``; requests with ``Authorization`` unless ``"authorization"`` is in
``vary``. The response's own ``Cache-Control`` (``s-maxage``/``max-age``,
``stale-while-revalidate``, ``stale-if-error``) sets its lifetime, else ``ttl``.

Put middleware that differs per request (request id, CORS, compression) *outside* this
one: only headers set downstream of it are stored, and per-request ones (Date,
X-Request-Id, X-Response-Time, traceparent) never are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import error_status
from ..response import KIND_BYTES, KIND_JSON, KIND_TEXT
from ..stores.base import Store
from .cache import Cache
from .cache_policy import normalize_url
from .cache_types import CacheEntry

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Next

__all__ = ["CachedResponse", "ResponseCodec", "response_cache"]

# Headers that belong to one exchange, never to a stored response.
_PER_REQUEST = frozenset(
    {
        "age",
        "connection",
        "content-length",
        "date",
        "keep-alive",
        "server-timing",
        "set-cookie",
        "traceparent",
        "tracestate",
        "transfer-encoding",
        "x-cache",
        "x-request-id",
        "x-response-time",
    }
)


class CachedResponse:
    """A stored response: status, the headers set downstream, and the body bytes."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, headers: list[tuple[str, str | list[str]]], body: bytes
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"CachedResponse({self.status}, {len(self.body)} bytes)"


_PREFIX = struct.Struct("<HI")  # status, length of the JSON headers


class ResponseCodec:
    """``CachedResponse`` as L2 bytes: status, JSON headers, then the raw body."""

    def dumps(self, value: CachedResponse) -> bytes:
        headers = orjson.dumps(value.headers)
        return _PREFIX.pack(value.status, len(headers)) + headers + value.body

    def loads(self, data: bytes) -> CachedResponse:
        status, size = _PREFIX.unpack_from(data)
        start = _PREFIX.size
        raw = orjson.loads(data[start : start + size])
        headers = [(str(name), value) for name, value in raw]
        return CachedResponse(status, headers, data[start + size :])


_CODEC = ResponseCodec()


class _ServerError(Exception):
    """The chain answered 5xx: a failure to the cache (stale-if-error may answer)."""


class _Pass:
    """The rest of the chain as a cache fetch, run at most once for one request."""

    __slots__ = ("before", "client_error", "ctx", "next", "ran", "settings")

    def __init__(self, ctx: Context, next: Next, settings: _Settings) -> None:
        self.ctx = ctx
        self.next = next
        self.settings = settings
        self.ran = False
        self.before: dict[str, str | list[str]] = {}
        self.client_error: Exception | None = None

    async def __call__(self) -> CacheEntry[CachedResponse | None]:
        self.ran = True
        res = self.ctx.response
        before = self.before = dict(res.headers)
        try:
            await self.next()  # an exception goes back to this request only, never shared
        except Exception as exc:
            if error_status(exc) >= 500:
                raise  # a failure: stale-if-error may answer instead
            self.client_error = exc  # this client's own mistake: not a reason to serve stale
            return CacheEntry(None, store=False)
        if res.status >= 500:
            raise _ServerError(res.status)
        stored = self.settings.snapshot(self.ctx, before)
        if stored is None:
            return CacheEntry(None, store=False)
        cache_control = res.headers.get("cache-control")
        return CacheEntry(
            stored,
            cache_control=cache_control if isinstance(cache_control, str) else None,
            status=stored.status,
        )


class _Settings:
    __slots__ = ("statuses", "vary")

    def __init__(self, statuses: frozenset[int], vary: frozenset[str]) -> None:
        self.statuses = statuses
        self.vary = vary

    def snapshot(self, ctx: Context, before: dict[str, str | list[str]]) -> CachedResponse | None:
        """The response as it may be stored, or ``None`` when it must not be."""
        res = ctx.response
        headers = res.headers
        if (
            not ctx.respond
            or res.headers_sent
            or res.status not in self.statuses
            or res.kind not in (KIND_BYTES, KIND_TEXT, KIND_JSON)
            or "set-cookie" in headers
        ):
            return None
        vary = headers.get("vary")
        if vary:
            names = vary if isinstance(vary, list) else [vary]
            fields = {f.strip().lower() for line in names for f in line.split(",")}
            if "*" in fields or not fields <= self.vary:
                return None
        body = res.encoded()
        if body is None:
            return None
        kept = [
            (name, value)
            for name, value in headers.items()
            if name not in _PER_REQUEST and before.get(name) != value
        ]
        return CachedResponse(res.status, kept, body)


def _key(ctx: Context, vary: tuple[str, ...]) -> str:
    request = ctx.request
    headers = request.headers
    qs = request.querystring
    url = f"{request.raw_path}?{qs}" if qs else request.raw_path
    text = f"{headers.get('host', '')} {normalize_url(url)}"
    for name in vary:
        text += f"\n{name}: {headers.get(name, '')}"
    return blake2b(text.encode(), digest_size=16).hexdigest()


def response_cache(
    *,
    ttl: float | None = None,
    vary: Iterable[str] = (),
    methods: Iterable[str] = ("GET", "HEAD"),
    statuses: Iterable[int] = (200,),
    key: Callable[[Context], str] | None = None,
    store: Cache | Store | str | None = None,
) -> Callable[[Context, Next], Any]:
    """Middleware caching whole responses; see the module docstring for the rules.

    Args:
        ttl: freshness when the response's ``Cache-Control`` does not say (default: the
            cache's ``default_ttl``).
        vary: request headers whose values select separate entries.
        methods: request methods to cache; HEAD shares GET's entries.
        statuses: response statuses that may be stored.
        key: ``key(ctx) -> str`` replacing the default key (host, path, sorted query,
            ``vary`` values).
        store: a ``Cache`` to share, or what ``Cache(redis=...)`` accepts (a URL, a
            client, a ``Store``); by default a private in-process cache, closed on the
            app's shutdown.
    """
    owned = not isinstance(store, Cache)
    cache = store if isinstance(store, Cache) else Cache(redis=store)
    vary_names = tuple(sorted({name.lower() for name in vary}))
    allowed = frozenset(m.upper() for m in methods)
    settings = _Settings(frozenset(statuses), frozenset(vary_names))
    private_ok = "authorization" in vary_names
    hooked: list[bool] = []

    async def response_cache_middleware(ctx: Context, next: Next) -> None:
        if ctx.method not in allowed or (not private_ok and "authorization" in ctx.request.headers):
            await next()
            return
        if owned and not hooked:  # close our own cache with the app
            hooked.append(True)
            ctx.app.on("shutdown", cache.aclose)
        fetch = _Pass(ctx, next, settings)
        res = ctx.response
        try:
            result = await cache.get_or_fetch(
                key(ctx) if key is not None else _key(ctx, vary_names),
                fetch,
                ttl=ttl,
                codec=_CODEC,
                share_uncacheable=False,
                cache_errors=False,
                revalidate="inline",
            )
        except _ServerError:  # our own chain's 5xx, no stale copy to replace it
            res.headers["x-cache"] = "MISS"
            return
        stored = result.value
        if fetch.ran:
            if fetch.client_error is not None:
                raise fetch.client_error
            if result.status != "stale":  # our own chain answered; ctx holds it
                res.headers["x-cache"] = "MISS"
                return
            res.headers = dict(fetch.before)  # it failed: drop what it set, serve stale
        if stored is None:  # pragma: no cover - uncacheable results are never shared
            raise RuntimeError("response cache returned an unshareable result")
        headers = res.headers
        for name, value in stored.headers:
            headers[name] = value
        res.status = stored.status
        res.body = stored.body
        headers["x-cache"] = "STALE" if result.status == "stale" else "HIT"
        headers["age"] = str(int(result.age))

    response_cache_middleware.cache = cache  # type: ignore[attr-defined]
    return response_cache_middleware
