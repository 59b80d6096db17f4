"""``ctx.bff``: upstreams bound to the request, aggregation under its deadline, the cache.

    upstreams = Upstreams(Upstream("users", USERS), Upstream("orders", ORDERS))
    app.use(bff(upstreams, cache=Cache(redis=REDIS_URL), budget=1.0))

    @router.get("/dashboard/:id")
    async def dashboard(ctx):
        users = ctx.bff.upstream("users")            # calls carry ctx: headers + deadline
        got = await ctx.bff.gather(
            user=users.get_json(f"/users/{ctx.params['id']}"),
            orders=Part(ctx.bff.upstream("orders").get_json("/orders"), fallback=[]),
            deadline=0.5,                            # and never past the request's deadline
        )
        got.to_response(ctx)

The request's deadline is ``ctx.state.deadline`` (``X-Request-Deadline`` milliseconds
from the caller, capped by ``budget``; see ``scallion.bff.deadline``). Every upstream call
made through ``ctx.bff`` ends by it and forwards what is left of it downstream, and
``ctx.bff.gather`` cancels its parts when it runs out.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .cache import Cache, in_background_refresh, stored_validators
from .cache_policy import header_line
from .cache_types import CacheEntry, CacheResult, NotModified, Validators
from .deadline import DEADLINE_HEADER, request_deadline, start_deadline
from .errors import RequestInfo, UpstreamBadResponse
from .gather import Gathered, PartLike, Step, gather
from .upstream import Upstream, UpstreamResponse, Upstreams

if TYPE_CHECKING:
    from ..app import App
    from ..context import Context
    from ..types import Next

__all__ = ["BffContext", "BoundUpstream", "bff", "bff_of"]


class BoundUpstream:
    """An ``Upstream`` bound to one request: every call passes ``ctx`` (headers, deadline)."""

    __slots__ = ("_bff", "upstream")

    def __init__(self, upstream: Upstream, owner: BffContext) -> None:
        self.upstream = upstream
        self._bff = owner

    @property
    def name(self) -> str:
        return self.upstream.name

    def request(self, method: str, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        """``Upstream.request`` with this request's ``ctx``; same options."""
        return self.upstream.request(method, path, ctx=self._bff.ctx, **options)

    def get(self, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        return self.upstream.request("GET", path, ctx=self._bff.ctx, **options)

    def post(self, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        return self.upstream.request("POST", path, ctx=self._bff.ctx, **options)

    def put(self, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        return self.upstream.request("PUT", path, ctx=self._bff.ctx, **options)

    def patch(self, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        return self.upstream.request("PATCH", path, ctx=self._bff.ctx, **options)

    def delete(self, path: str, **options: Any) -> Awaitable[UpstreamResponse]:
        return self.upstream.request("DELETE", path, ctx=self._bff.ctx, **options)

    def get_json(
        self,
        path: str,
        *,
        expect: type[dict[Any, Any]] | type[list[Any]] | None = None,
        **options: Any,
    ) -> Awaitable[Any]:
        """``GET path`` and its JSON body (4xx raises ``UpstreamStatusError`` here)."""
        # Upstream.get_json's own coroutine, not one wrapped around it: a level less per call.
        return self.upstream.get_json(path, ctx=self._bff.ctx, expect=expect, **options)

    async def cached_json(
        self,
        path: str,
        *,
        ttl: float | None = None,
        vary: Iterable[str] = (),
        stale_while_revalidate: float | None = None,
        stale_if_error: float | None = None,
        expect: type[dict[Any, Any]] | type[list[Any]] | None = None,
        **options: Any,
    ) -> CacheResult[Any]:
        """``GET path`` through the cache, keyed by upstream, path and the ``vary`` headers.

        The upstream's ``Cache-Control``/``Expires``/``Age`` (else ``ttl``) decide how long;
        its stale windows, else ``stale_while_revalidate``/``stale_if_error``, else the
        cache's ``stale_ttl``. Concurrent identical misses make one call. Not cached: calls
        that carry the client's own ``Authorization`` or ``Cookie`` (propagated) unless
        ``vary`` names it, and answers whose ``Vary`` names a propagated header outside
        ``vary`` (or ``*``). Returns the ``CacheResult``: ``gather`` unwraps it and reports
        the part as stale when it was. Without a cache configured, every call is a miss.

        Refreshes are conditional: a stored answer that came with an ``ETag`` and/or
        ``Last-Modified`` is fetched again with ``If-None-Match``/``If-Modified-Since``,
        and a ``304`` serves the stored value (not transferred or parsed again) with the
        304's new lifetime. A ``304`` to a call that sent no validator is an
        ``UpstreamBadResponse``."""
        ctx = self._bff.ctx
        cache = self._bff.cache
        upstream = self.upstream
        varied = frozenset(name.lower() for name in vary)

        async def fetch_with(sent: Validators | None) -> CacheEntry[Any] | NotModified:
            call = _call_options(upstream, ctx, options)
            if sent is not None:
                call["headers"] = {**(call.get("headers") or {}), **sent.request_headers()}
            resp = await upstream.request("GET", path, **call)
            if resp.status == 304:
                if sent is None:
                    raise UpstreamBadResponse(
                        f"upstream {upstream.name!r} answered 304 Not Modified to a request "
                        "that sent no validator",
                        upstream=upstream.name,
                        request=RequestInfo(resp.method, resp.url),
                    )
                return NotModified(headers=resp.headers)
            value = resp.raise_for_status().json(expect)
            headers = resp.headers
            return CacheEntry(
                value,
                headers=headers,
                status=resp.status,
                private=_varies_per_client(header_line(headers, "vary"), upstream, varied),
            )

        async def fetch() -> CacheEntry[Any] | NotModified:
            return await fetch_with(stored_validators())

        if cache is None or _carries_credentials(upstream, ctx, varied):
            entry = await fetch_with(None)
            assert isinstance(entry, CacheEntry)
            return CacheResult(entry.value, "miss")
        key = cache.key_for("GET", f"upstream://{upstream.name}{path}", ctx.request.headers, vary)
        return await cache.get_or_fetch(
            key,
            fetch,
            ttl=ttl,
            stale_while_revalidate=stale_while_revalidate,
            stale_if_error=stale_if_error,
            conditional=True,
        )

    def __repr__(self) -> str:
        return f"<BoundUpstream {self.upstream.name}>"


_CREDENTIALS = ("authorization", "cookie")


def _carries_credentials(upstream: Upstream, ctx: Context, varied: frozenset[str]) -> bool:
    """The call would forward the client's own credentials, which the key does not hold."""
    incoming = ctx.request.headers
    return any(
        name in upstream.propagate_headers and name not in varied and name in incoming
        for name in _CREDENTIALS
    )


def _varies_per_client(vary: str | None, upstream: Upstream, varied: frozenset[str]) -> bool:
    """The answer's ``Vary`` names a header copied from the client that the key leaves out."""
    if not vary:
        return False
    fields = {name.strip().lower() for name in vary.split(",")}
    return "*" in fields or any(
        name in upstream.propagate_headers and name not in varied for name in fields
    )


def _call_options(upstream: Upstream, ctx: Context, options: dict[str, Any]) -> dict[str, Any]:
    """The call's options: with ``ctx``, except in a background refresh.

    A stale-while-revalidate refresh runs after the request that found the value stale
    was answered: it keeps the headers that request propagated, but not its deadline (or
    a ``deadline=`` given for it); the upstream's own timeout and retry policy bound it.
    """
    if not in_background_refresh():
        return {**options, "ctx": ctx}
    refresh = {name: value for name, value in options.items() if name != "deadline"}
    refresh["headers"] = upstream._headers(ctx, options.get("headers"))
    return refresh


class BffContext:
    """What ``ctx.bff`` is: the app's upstreams and cache, seen from one request."""

    __slots__ = ("_bound", "cache", "ctx", "upstreams")

    def __init__(self, ctx: Context, upstreams: Upstreams | None, cache: Cache | None) -> None:
        self.ctx = ctx
        self.upstreams = upstreams
        self.cache = cache
        self._bound: dict[str, BoundUpstream] | None = None

    def upstream(self, name: str) -> BoundUpstream:
        """The upstream ``name``, bound to this request (``KeyError`` naming the known ones)."""
        bound = self._bound
        if bound is None:
            bound = self._bound = {}
        found = bound.get(name)
        if found is None:
            if self.upstreams is None:
                raise KeyError(f"no upstream named {name!r}: bff() was given no upstreams")
            found = bound[name] = BoundUpstream(self.upstreams.get(name), self)
        return found

    @property
    def deadline(self) -> float | None:
        """The request's absolute deadline (``time.monotonic()``), or ``None``."""
        return request_deadline(self.ctx)

    def remaining(self) -> float | None:
        """Seconds left before the request's deadline, or ``None`` without one."""
        at = request_deadline(self.ctx)
        return None if at is None else max(0.0, at - time.monotonic())

    async def gather(
        self,
        parts: Mapping[str, PartLike] | None = None,
        /,
        *,
        deadline: float | None = None,
        steps: Iterable[Step] = (),
        **named: PartLike,
    ) -> Gathered:
        """``scallion.bff.gather`` bounded by the request's deadline as well as ``deadline``."""
        return await gather(
            parts,
            deadline=deadline,
            deadline_at=request_deadline(self.ctx),
            steps=steps,
            **named,
        )

    def __repr__(self) -> str:
        names = [u.name for u in self.upstreams] if self.upstreams is not None else []
        return f"<BffContext upstreams={names!r}>"


def bff_of(ctx: Context) -> BffContext:
    """``ctx.bff``, typed (for code checked by mypy); ``LookupError`` without ``bff()``."""
    found = getattr(ctx, "bff", None)
    if not isinstance(found, BffContext):
        raise LookupError("ctx.bff is not installed: add app.use(bff(upstreams, ...))")
    return found


def bff(
    upstreams: Upstreams | Iterable[Upstream] | None = None,
    *,
    cache: Cache | None = None,
    budget: float | None = None,
    header: str = DEADLINE_HEADER,
    app: App | None = None,
) -> Callable[[Context, Next], Awaitable[None]]:
    """Middleware that installs ``ctx.bff`` and the request's deadline.

    Args:
        upstreams: an ``Upstreams`` registry or a list of ``Upstream``.
        cache: the ``Cache`` behind ``cached_json`` (share it with ``response_cache``).
        budget: seconds a request may take at most; the caller's ``X-Request-Deadline``
            can only make it shorter. ``None``: only the caller's header counts. A
            malformed header answers 400, a spent budget 504.
        header: the incoming header with the caller's remaining milliseconds.
        app: close the upstreams and the cache when this app shuts down.
    """
    registry = upstreams if isinstance(upstreams, Upstreams) or upstreams is None else None
    if registry is None:
        registry = Upstreams(*upstreams)  # type: ignore[misc]
    if budget is not None and budget <= 0:
        raise ValueError("deadline budget must be > 0 seconds")

    async def bff_middleware(ctx: Context, next: Next) -> None:
        facade = BffContext(ctx, registry, cache)
        attrs = ctx.__dict__
        attrs["bff"] = facade
        try:
            # The deadline is set here, not by a deadline() middleware wrapped around
            # next: one coroutine level less per request (nothing is enforced here; the
            # calls and ctx.bff.gather end by it).
            start_deadline(ctx, budget, header)
            await next()
        finally:
            # ctx -> facade -> ctx (and facade <-> its bound upstreams) are reference cycles.
            # Left in place, every request's objects wait for the cyclic GC: 4x the gen-0
            # collections and twice the GC CPU per fan-out at 128 requests in flight
            # (bench/README.md, `python -m bench bff`).
            facade._bound = None
            if attrs.get("bff") is facade:
                del attrs["bff"]

    if app is not None:
        if registry is not None:
            app.on("shutdown", registry.aclose)
        if cache is not None:
            app.on("shutdown", cache.aclose)
    return bff_middleware
