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
``stale-while-revalidate``, ``stale-if-error``) or ``Expires`` sets its lifetime, else
``ttl``; its ``Age`` shortens it.

Conditional GET (RFC 9110 §13): every stored response has an ``ETag``: the handler's, or
(``etag=True``, the default) a strong one made from the stored body when it is stored,
``"<length hex>-<BLAKE2b-96 hex>"`` as ``etag(weak=False)`` makes it, so it changes
exactly when the bytes do. A GET or HEAD answered from the cache (HIT or STALE), or the
MISS that just stored its response, becomes ``304 Not Modified`` with no body when the
client's ``If-None-Match`` matches that ``ETag`` (``*``, lists, weak comparison), or, with
no ``If-None-Match``, when its ``If-Modified-Since`` is not earlier than the stored
``Last-Modified``. The 304 keeps the validators and the other stored headers (a
compressor outside this middleware turns a strong ``ETag`` weak, as it must).

Put middleware that differs per request (request id, CORS, compression) *outside* this
one: only headers set downstream of it are stored, and per-request ones (Date,
X-Request-Id, X-Response-Time, traceparent) never are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import error_status
from ..middleware.etag import etag_for_bytes
from ..response import KIND_BYTES, KIND_JSON, KIND_TEXT
from ..stores.base import Store
from .cache import Cache
from .cache_policy import etag_list_matches, normalize_url, parse_http_date
from .cache_types import CacheEntry

if TYPE_CHECKING:
    from ..context import Context
    from ..response import Response
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
    """A stored response: status, the headers set downstream, and the body bytes.

    ``fields`` holds the same headers as a dict, so a hit copies them with one
    ``dict.update``; ``multi`` says a value is a list, which each hit must copy (an outer
    middleware may ``append`` to it, and the stored one is shared). ``etag`` and
    ``modified`` (epoch seconds) are its validators, read once for conditional requests.
    """

    __slots__ = ("body", "etag", "fields", "headers", "modified", "multi", "status")

    def __init__(
        self, status: int, headers: list[tuple[str, str | list[str]]], body: bytes
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.fields = dict(headers)
        self.multi = any(type(value) is list for _, value in headers)
        tag = self.fields.get("etag")
        self.etag = tag if type(tag) is str else None
        modified = self.fields.get("last-modified")
        self.modified = parse_http_date(modified) if type(modified) is str else None

    def copy_fields(self) -> dict[str, str | list[str]]:
        """``fields`` with every list value copied (what a response may change)."""
        if not self.multi:
            return self.fields
        return {name: v[:] if type(v) is list else v for name, v in self.fields.items()}

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

    __slots__ = ("before", "client_error", "ctx", "next", "ran", "settings", "stored")

    def __init__(self, ctx: Context, next: Next, settings: _Settings) -> None:
        self.ctx = ctx
        self.next = next
        self.settings = settings
        self.ran = False
        self.before: dict[str, str | list[str]] = {}
        self.client_error: Exception | None = None
        self.stored: CachedResponse | None = None  # what this run stored, if anything

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
        stored = self.stored = self.settings.snapshot(self.ctx, before)
        if stored is None:
            return CacheEntry(None, store=False)
        # Cache-Control (repeated lines joined), Expires, Date and Age set downstream.
        return CacheEntry(stored, headers=res.headers, status=stored.status)


class _Settings:
    __slots__ = ("etag", "statuses", "vary")

    def __init__(self, statuses: frozenset[int], vary: frozenset[str], etag: bool) -> None:
        self.statuses = statuses
        self.vary = vary
        self.etag = etag

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
        if self.etag and "etag" not in headers:  # on this response too: MISS and HIT agree
            headers["etag"] = etag_for_bytes(body, weak=False)
        kept = [
            (name, value[:] if type(value) is list else value)  # not the response's own list
            for name, value in headers.items()
            if name not in _PER_REQUEST and before.get(name) != value
        ]
        return CachedResponse(res.status, kept, body)


class _Conditional(str):
    """A cache key from a request with ``If-None-Match``/``If-Modified-Since``.

    The key function already reads every request header once; it hands these two back on
    the key itself, so the hit path of an unconditional request pays one ``type()`` test
    for conditional GET rather than a second pass over the headers.
    """

    __slots__ = ("modified_since", "none_match")

    none_match: str | None
    modified_since: str | None


def _conditional(key: str, none_match: str | None, modified_since: str | None) -> str:
    """``key``, carrying the request's conditional headers when it has any."""
    if none_match is None and modified_since is None:
        return key
    marked = _Conditional(key)
    marked.none_match = none_match
    marked.modified_since = modified_since
    return marked


def _not_modified(key: _Conditional, stored: CachedResponse) -> bool:
    """The client's copy is the stored one (RFC 9110 §13.1.2, §13.1.3, §13.2.2).

    ``If-None-Match`` wins when present; ``If-Modified-Since`` counts only without it and
    only when it is one valid HTTP-date. Anything unreadable means "send it all".
    """
    if key.none_match is not None:
        return stored.etag is not None and etag_list_matches(key.none_match, stored.etag)
    if key.modified_since is None or stored.modified is None:
        return False
    since = parse_http_date(key.modified_since)
    return since is not None and stored.modified <= since


_CONDITIONAL_NAMES = (b"if-none-match", b"if-modified-since")


class _Keyer:
    """The default key: method (HEAD as GET), host, path, sorted query, ``vary`` values.

    Read straight from the ASGI scope (header names are lowercase bytes there) and
    memoised per distinct request line, so a hit costs one pass over the raw headers and a
    dict probe; the memo is bounded (cleared when full), so hostile URLs cannot grow it.
    A request with conditional headers gets its key as a ``_Conditional`` carrying them.
    """

    __slots__ = ("key", "memo", "vary")

    _MEMO_SIZE = 4096

    def __init__(self, vary: tuple[str, ...], private_ok: bool) -> None:
        self.vary = tuple(name.encode("latin-1") for name in vary)
        self.memo: dict[tuple[str, bytes, bytes, bytes, tuple[bytes, ...]], str] = {}
        self.key = self._key_function(private_ok)

    def __call__(self, scope: Mapping[str, Any], method: str) -> str | None:
        """The key, or ``None`` when the request must bypass the cache (Authorization)."""
        return self.key(scope, method)

    def _key_function(self, private_ok: bool) -> Callable[[Mapping[str, Any], str], str | None]:
        """``key(scope, method)``: what the middleware calls on every request.

        Written for the hit path, with what it reads bound as default arguments (plain
        locals, the cheapest reads CPython has): ~3.8k instructions per call with two
        request headers, against ~4.4k for the same code reading closure cells and ~4.3k
        as a method reading attributes (callgrind). The header loop alone is ~780 per
        request header, so it does one set probe per header and nothing else for the
        ones the key ignores.
        """
        vary = self.vary

        def key(
            scope: Mapping[str, Any],
            method: str,
            vary: tuple[bytes, ...] = vary,
            absent: tuple[bytes, ...] = tuple(b"" for _ in vary),  # none of them sent
            watch: frozenset[bytes] = frozenset(
                (*vary, *_CONDITIONAL_NAMES, b"authorization", b"host")
            ),
            private_ok: bool = private_ok,
            memo: dict[tuple[str, bytes, bytes, bytes, tuple[bytes, ...]], str] = self.memo,
            digest: Callable[..., str] = self._digest,
        ) -> str | None:
            host = b""
            found: dict[bytes, bytes] | None = None
            for name, value in scope["headers"]:
                if name in watch:
                    if name == b"host":
                        host = value
                    elif name == b"authorization" and not private_ok:
                        return None
                    elif found is None:
                        found = {name: value}
                    else:
                        found[name] = found[name] + b", " + value if name in found else value
            if method == "HEAD":
                method = "GET"
            line = (
                method,
                host,
                scope.get("raw_path") or scope["path"].encode(),
                scope.get("query_string", b""),
                # map, not a comprehension: one reading `found` would make it a cell
                # variable, and every access to it in the loop dearer (~500 per call).
                absent if found is None else tuple(map(found.get, vary, absent)),
            )
            got = memo.get(line)
            if got is None:
                got = digest(*line)
                if len(memo) >= _Keyer._MEMO_SIZE:
                    memo.clear()
                memo[line] = got
            if found is not None and (b"if-none-match" in found or b"if-modified-since" in found):
                return _conditional_from(got, found) if method == "GET" else got
            return got

        return key

    def _digest(
        self, method: str, host: bytes, raw: bytes, qs: bytes, values: tuple[bytes, ...]
    ) -> str:
        path = raw.decode("latin-1").partition("?")[0]
        url = f"{path}?{qs.decode('latin-1')}" if qs else path
        text = f"{method} {host.decode('latin-1')} {normalize_url(url)}"
        for name, value in zip(self.vary, values, strict=True):
            text += f"\n{name.decode()}: {value.decode('latin-1').strip()}"
        return blake2b(text.encode(), digest_size=16).hexdigest()


def _conditional_from(key: str, found: dict[bytes, bytes]) -> str:
    none_match = found.get(b"if-none-match")
    modified_since = found.get(b"if-modified-since")
    return _conditional(
        key,
        None if none_match is None else none_match.decode("latin-1"),
        None if modified_since is None else modified_since.decode("latin-1"),
    )


def _apply(res: Response, stored: CachedResponse, mark: str, age: float) -> None:
    """Write a stored response onto ``res`` (over headers set upstream of the cache)."""
    headers = res.headers
    headers.update(stored.copy_fields())
    res.status = stored.status
    res.body = stored.body
    headers["x-cache"] = mark
    headers["age"] = str(int(age))


def response_cache(
    *,
    ttl: float | None = None,
    vary: Iterable[str] = (),
    methods: Iterable[str] = ("GET", "HEAD"),
    statuses: Iterable[int] = (200,),
    key: Callable[[Context], str] | None = None,
    store: Cache | Store | str | None = None,
    etag: bool = True,
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
        etag: give stored responses without an ``ETag`` a strong one made from the body
            (``False``: only handlers' own ``ETag``s, and ``Last-Modified``, validate).
    """
    owned = not isinstance(store, Cache)
    cache = store if isinstance(store, Cache) else Cache(redis=store)
    vary_names = tuple(sorted({name.lower() for name in vary}))
    allowed = frozenset(m.upper() for m in methods)
    settings = _Settings(frozenset(statuses), frozenset(vary_names), etag)
    private_ok = "authorization" in vary_names
    keyer = _Keyer(vary_names, private_ok).key
    fresh = cache.fresh
    hooked: list[bool] = []

    async def response_cache_middleware(ctx: Context, next: Next) -> None:
        scope = ctx.scope
        method = scope["method"]
        if method not in allowed:
            await next()
            return
        if key is None:
            cache_key = keyer(scope, method)
        elif private_ok or "authorization" not in ctx.request.headers:
            cache_key = key(ctx)
            if method in ("GET", "HEAD"):  # conditional GET is for these two alone
                incoming = ctx.request.headers
                cache_key = _conditional(
                    cache_key, incoming.get("if-none-match"), incoming.get("if-modified-since")
                )
        else:
            cache_key = None
        if cache_key is None:
            await next()
            return
        found = fresh(cache_key)  # the hot path: a fresh L1 hit, no await
        if found is None:
            await _slow_path(ctx, next, cache_key)
            return
        # _apply written out: the call costs ~0.7k instructions of a hit's ~100k.
        stored, age = found
        res = ctx.response
        headers = res.headers
        headers.update(stored.fields if not stored.multi else stored.copy_fields())
        res.status = stored.status
        res.body = stored.body
        headers["x-cache"] = "HIT"
        headers["age"] = str(int(age))
        if type(cache_key) is _Conditional and _not_modified(cache_key, stored):
            res.status = 304  # drops the body; the stored headers (validators) stay

    async def _slow_path(ctx: Context, next: Next, cache_key: str) -> None:
        if owned and not hooked:  # close our own cache with the app
            hooked.append(True)
            ctx.app.on("shutdown", cache.aclose)
        fetch = _Pass(ctx, next, settings)
        res = ctx.response
        try:
            result = await cache.get_or_fetch(
                cache_key,
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
        if fetch.ran:
            if fetch.client_error is not None:
                raise fetch.client_error
            if result.status != "stale":  # our own chain answered; ctx holds it
                res.headers["x-cache"] = "MISS"
                done = fetch.stored
                if (
                    done is not None
                    and type(cache_key) is _Conditional
                    and res.status == done.status
                    and _not_modified(cache_key, done)
                ):
                    res.status = 304
                return
            res.headers = dict(fetch.before)  # it failed: drop what it set, serve stale
        stored = result.value
        if stored is None:  # pragma: no cover - uncacheable results are never shared
            raise RuntimeError("response cache returned an unshareable result")
        _apply(res, stored, "STALE" if result.status == "stale" else "HIT", result.age)
        if type(cache_key) is _Conditional and _not_modified(cache_key, stored):
            res.status = 304

    response_cache_middleware.cache = cache  # type: ignore[attr-defined]
    return response_cache_middleware
