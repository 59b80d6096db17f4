"""Compile a checked ``GatewayConfig`` into an ordinary ``App``: Router routes + middleware.

The YAML is a front end to the Python API, not a second engine: every upstream becomes an
``Upstream`` (with its ``RetryPolicy``, per-instance ``CircuitBreaker`` and bulkhead), each
endpoint becomes one Router route whose middleware are the library's (``response_cache``,
auth, rate limit) and whose handler builds ``Part``/``Step`` objects for ``gather``. A
backend's ``cache:`` is ``ctx.bff.upstream(name).cached_json(...)`` on the gateway's one
``Cache``, so every endpoint calling the same upstream URL shares the entry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from ...app import App
from ...errors import HttpError
from ...router import Router
from ..breaker_redis import RedisBreakerStorage
from ..cache import Cache
from ..cache_middleware import response_cache
from ..cache_types import CacheResult
from ..context import bff, bff_of
from ..deadline import request_deadline
from ..errors import BreakerOpen, UpstreamBadResponse, UpstreamStatusError
from ..gather import COMPLETED_HEADER, Part, Step, gather
from ..retry import RetryBudget, RetryPolicy, exponential
from ..upstream import DEFAULT_PROPAGATE, Upstream, Upstreams
from .loader import ConfigError
from .middleware import auth_middleware, rate_limit_middleware
from .schema import (
    BackendCacheConfig,
    BackendConfig,
    EndpointConfig,
    GatewayConfig,
    UpstreamConfig,
)
from .shape import merge_into
from .template import TemplateValueError

if TYPE_CHECKING:
    from ...context import Context
    from ...stores.redis import RedisStore
    from ...types import Middleware
    from ..transport import Transport

__all__ = ["Gateway", "compile_gateway"]

log = logging.getLogger("scallion.gateway")
_CONNECT_AT_STARTUP = 2.0  # seconds the startup hook waits for the shared stores
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _Passed(Exception):
    """A backend answered a status the endpoint passes through as its own."""

    def __init__(self, backend: str, status: int, body: bytes, content_type: str | None) -> None:
        super().__init__(f"backend {backend!r} answered {status} (passed through)")
        self.backend = backend
        self.status = status
        self.body = body
        self.content_type = content_type


class _Backend:
    """One compiled backend: the upstream, the template, what to do with the answer."""

    __slots__ = ("config", "forward_body", "method", "name", "part_kwargs", "shape", "upstream")

    def __init__(self, config: BackendConfig, upstream: Upstream) -> None:
        self.config = config
        self.name = config.name
        self.upstream = upstream
        self.method = config.method
        self.shape = config.shape
        self.forward_body = config.forward_body
        self.part_kwargs: dict[str, Any] = {
            "required": config.required,
            "timeout": config.timeout,
        }
        if config.has_fallback:
            self.part_kwargs["fallback"] = config.fallback

    async def fetch(
        self,
        ctx: Context,
        deadline: float | None,
        body: bytes | None,
        statuses: dict[str, int],
        deps: Mapping[str, Any] | None = None,
        item: Any = None,
    ) -> Any:
        """Call the upstream and decode its JSON; statuses and failures as configured."""
        config = self.config
        try:
            path = config.template.render(ctx.params, ctx.query, deps, item)
        except TemplateValueError as exc:
            if exc.placeholder.kind in ("param", "query"):
                raise HttpError(400, f"invalid value for {exc.placeholder.text}") from None
            raise UpstreamBadResponse(
                f"backend {self.name!r}: {exc}", upstream=self.upstream.name
            ) from None
        if config.cache is not None:
            return await self._cached(ctx, path, deadline, config.cache)
        headers: dict[str, str] | None = None
        if body is not None:
            headers = {"content-type": ctx.request.headers.get("content-type", "application/json")}
        try:
            resp = await self.upstream.request(
                self.method, path, content=body, headers=headers, deadline=deadline, ctx=ctx
            )
        except UpstreamStatusError as exc:
            if config.passes(exc.upstream_status):
                raise _Passed(self.name, exc.upstream_status, exc.body, None) from None
            raise
        status = resp.status
        if status >= 400:
            if config.passes(status):
                raise _Passed(self.name, status, resp.content, resp.headers.get("content-type"))
            resp.raise_for_status()
        if status != 200 and config.passes(status):
            statuses.setdefault(self.name, status)
        if not resp.content:
            return None
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamBadResponse(
                f"backend {self.name!r} answered a body that is not valid JSON "
                f"({exc.msg} at byte {exc.pos})",
                upstream=self.upstream.name,
            ) from None

    async def _cached(
        self, ctx: Context, path: str, deadline: float | None, cache: BackendCacheConfig
    ) -> CacheResult[Any]:
        """The upstream's JSON through the cache: one entry per upstream URL and vary values,
        shared by every endpoint (and every process, with ``redis:``) that calls it."""
        try:
            return await (
                bff_of(ctx)
                .upstream(self.upstream.name)
                .cached_json(
                    path,
                    ttl=cache.ttl,
                    vary=cache.vary,
                    stale_while_revalidate=cache.swr,
                    stale_if_error=cache.sie,
                    deadline=deadline,
                )
            )
        except UpstreamStatusError as exc:
            if self.config.passes(exc.upstream_status):
                raise _Passed(self.name, exc.upstream_status, exc.body, None) from None
            raise


class _Endpoint:
    """The route handler of one endpoint: plan the parts, gather, shape, merge, answer."""

    __slots__ = ("backends", "config", "forwards_body", "segment_inputs", "timeout")

    def __init__(self, config: EndpointConfig, backends: list[_Backend], timeout: float | None):
        self.config = config
        self.backends = backends
        self.timeout = config.timeout if config.timeout is not None else timeout
        self.forwards_body = any(b.forward_body for b in backends)
        # Client inputs placed in a path segment: checked once, before any call is made.
        inputs: dict[tuple[str, str], str] = {}
        for backend in backends:
            for p in backend.config.template.placeholders:
                if p.kind in ("param", "query") and not p.in_query:
                    inputs[(p.kind, p.name)] = p.text
        self.segment_inputs = tuple((kind, name, text) for (kind, name), text in inputs.items())

    def _check_inputs(self, ctx: Context) -> None:
        params = ctx.params
        query = ctx.query
        for kind, name, text in self.segment_inputs:
            value = params.get(name, "") if kind == "param" else query.get(name, "")
            if isinstance(value, list):
                value = value[0] if value else ""
            if value in ("", ".", ".."):
                raise HttpError(400, f"invalid value for {text}")

    async def __call__(self, ctx: Context) -> None:
        if self.segment_inputs:
            self._check_inputs(ctx)
        at = request_deadline(ctx)
        if self.timeout is not None:
            mine = time.monotonic() + self.timeout
            if at is None or mine < at:
                at = mine
        body = await ctx.request.body() if self.forwards_body else None
        statuses: dict[str, int] = {}
        parts: dict[str, Part] = {}
        steps: list[Step] = []
        for backend in self.backends:
            self._plan(ctx, backend, at, body, statuses, parts, steps)
        try:
            got = await gather(parts, steps=steps, deadline_at=at)
        except _Passed as passed:
            _answer_passed(ctx, passed)
            return
        for backend in self.backends:
            error = got.errors.get(backend.name)
            if isinstance(error, _Passed):
                _answer_passed(ctx, error)
                return
        self._respond(ctx, got.values, got.missing, got.reasons, got.errors, got.stale, statuses)

    def _plan(
        self,
        ctx: Context,
        backend: _Backend,
        at: float | None,
        body: bytes | None,
        statuses: dict[str, int],
        parts: dict[str, Part],
        steps: list[Step],
    ) -> None:
        config = backend.config
        sent = body if backend.forward_body else None
        needs = config.depends_on
        if config.over is not None:
            source = config.over.split(".", 1)[0]
            others = tuple(n for n in needs if n != source)

            def each(item: Any, *values: Any) -> Any:
                deps = dict(zip(others, values, strict=True))
                return backend.fetch(ctx, at, sent, statuses, deps, item)

            steps.append(
                Step(
                    backend.name,
                    each,
                    needs=needs,
                    over=config.over,
                    concurrency=config.concurrency,
                    max_items=config.max_items,
                    **backend.part_kwargs,
                )
            )
        elif needs:

            def after(*values: Any) -> Any:
                return backend.fetch(ctx, at, sent, statuses, dict(zip(needs, values, strict=True)))

            steps.append(Step(backend.name, after, needs=needs, **backend.part_kwargs))
        else:
            parts[backend.name] = Part(
                backend.fetch(ctx, at, sent, statuses), **backend.part_kwargs
            )

    def _respond(
        self,
        ctx: Context,
        values: Mapping[str, Any],
        missing: list[str],
        reasons: dict[str, str],
        errors: Mapping[str, BaseException],
        stale: list[str],
        statuses: Mapping[str, int],
    ) -> None:
        merge = self.config.merge
        out: dict[str, Any] = {}
        owners: dict[str, str] = {}
        shown: dict[str, str] = {}
        for backend in self.backends:
            name = backend.name
            shape = backend.shape
            config = backend.config
            if name in reasons:
                part = shape.slot(values.get(name), config.has_fallback)
                _note(shown, name, errors.get(name))
            else:
                try:
                    value = values[name]
                    part = shape.apply_items(value) if config.over else shape.apply(value)
                except UpstreamBadResponse as exc:
                    if config.required:
                        raise
                    missing = [*missing, name]
                    _note(shown, name, exc)
                    part = shape.slot(config.fallback, config.has_fallback)
            merge_into(out, owners, part, name, merge)
        for key in [k for k in missing if "[" in k]:
            _note(shown, key, errors.get(key))
        out["missing"] = missing
        if stale:
            out["stale"] = list(stale)
        if shown and ctx.app.development:
            out["errors"] = shown
        status = 200
        for backend in self.backends:
            if backend.name in statuses:
                status = statuses[backend.name]
                break
        ctx.status = status
        ctx.body = out
        headers = ctx.response.headers
        if missing:
            headers[COMPLETED_HEADER] = "false"
            headers["cache-control"] = "no-store"
        else:
            headers[COMPLETED_HEADER] = "true"
            cache = self.config.cache
            if stale:  # a cached backend served stale: not for the endpoint cache to stretch
                headers["cache-control"] = "no-store"
            elif cache is not None:
                # Cache-Control counts whole seconds: round up, so ttl: 0.5 still caches.
                control = f"public, max-age={math.ceil(cache.ttl)}"
                if cache.swr:
                    control += f", stale-while-revalidate={math.ceil(cache.swr)}"
                headers["cache-control"] = control


def _note(shown: dict[str, str], name: str, error: BaseException | None) -> None:
    if error is None:
        return
    message = str(error) if getattr(error, "expose", False) else type(error).__name__
    # An open breaker fails every request fast: that is the breaker's news, not each call's.
    level = logging.DEBUG if isinstance(error, BreakerOpen) else logging.WARNING
    log.log(level, "gateway backend %s failed: %s", name, message)
    shown[name] = message


def _answer_passed(ctx: Context, passed: _Passed) -> None:
    ctx.status = passed.status
    headers = ctx.response.headers
    headers[COMPLETED_HEADER] = "false"
    headers["cache-control"] = "no-store"
    headers["x-scallion-passed"] = passed.backend
    try:
        ctx.body = orjson.loads(passed.body) if passed.body else None
    except orjson.JSONDecodeError:
        ctx.body = passed.body.decode("utf-8", "replace")
        if passed.content_type and passed.content_type.startswith("text/"):
            ctx.type = passed.content_type


# -- building ----------------------------------------------------------------------------------


def _upstream(
    config: UpstreamConfig,
    storage: RedisBreakerStorage | None,
    transport: Callable[[str], Transport] | None,
) -> Upstream:
    retry = None
    if config.retry is not None:
        r = config.retry
        retry = RetryPolicy(
            attempts=r.attempts,
            backoff=exponential(base=r.backoff, max=r.max_backoff),
            budget=RetryBudget(r.budget) if r.budget else None,
        )
    breaker: dict[str, Any] | None = None
    if config.breaker is not None:
        b = config.breaker
        breaker = {
            "failure_rate": b.failure_rate,
            "minimum_calls": b.minimum_calls,
            "window": b.window,
            "wait_duration": b.wait,
            "half_open_calls": b.half_open_calls,
            "slow_call_duration": b.slow_call_duration,
        }
        if storage is not None:
            breaker["storage"] = storage
    propagate = tuple(dict.fromkeys((*DEFAULT_PROPAGATE, *config.propagate_headers)))
    return Upstream(
        config.name,
        list(config.urls),
        balancer=config.balancer,
        timeout=config.timeout,
        retry=retry,
        breaker=breaker,
        max_concurrent=config.max_concurrent,
        propagate_headers=propagate,
        headers=dict(config.headers),
        transport=transport(config.name) if transport is not None else None,
    )


class Gateway:
    """What compiling produced: the app, and the parts it is made of (for status pages)."""

    __slots__ = ("app", "cache", "config", "router", "upstreams")

    def __init__(
        self, app: App, config: GatewayConfig, upstreams: Upstreams, cache: Cache, router: Router
    ) -> None:
        self.app = app
        self.config = config
        self.upstreams = upstreams
        self.cache = cache
        self.router = router


def _connect(stores: list[RedisStore]) -> Callable[[], Awaitable[None]]:
    """A startup hook connecting the shared stores before the first request.

    A cluster client's first operation loads the slot map (``COMMAND`` alone is ~100 ms of
    CPU), which would otherwise count against the first request's short Redis timeouts.
    Bounded, and never fatal: with Redis down the gateway starts and degrades as usual.
    """

    async def connect() -> None:
        try:
            async with asyncio.timeout(_CONNECT_AT_STARTUP):
                results = await asyncio.gather(
                    *(s.prepare() for s in stores), return_exceptions=True
                )
        except TimeoutError:
            log.warning("redis not ready %.1f s into startup; going on", _CONNECT_AT_STARTUP)
            return
        for store, result in zip(stores, results, strict=True):
            if isinstance(result, Exception):
                log.warning("redis unreachable at startup (%r): %s", store, result)

    return connect


def compile_gateway(
    config: GatewayConfig,
    *,
    transport: Callable[[str], Transport] | None = None,
    app: App | None = None,
) -> Gateway:
    """Build the app for ``config``; ``GatewayConfigError`` lists what cannot be built.

    Args:
        transport: ``name -> Transport`` to override the HTTP client per upstream (tests).
        app: an ``App`` to build on (default: a new one).
    """
    from . import GatewayConfigError
    from .openapi import openapi_spec

    errors: list[ConfigError] = []
    storage = RedisBreakerStorage(config.redis) if config.redis else None
    limit_stores: list[Any] = []  # the rate limits' stores on config.redis
    upstreams = Upstreams(*(_upstream(u, storage, transport) for u in config.upstreams.values()))
    cache = Cache(redis=config.redis, namespace="scallion:gateway")
    router = Router()
    for index, endpoint in enumerate(config.endpoints):
        middleware: list[Middleware] = []
        if endpoint.rate_limit is not None:
            found = rate_limit_middleware(endpoint, index, config, errors)
            if found is not None:
                middleware.append(found)
                if config.redis:
                    limit_stores.append(getattr(found, "store", None))
        if endpoint.auth is not None:
            found = auth_middleware(endpoint.auth, config.file, endpoint.line, errors)
            if found is not None:
                middleware.append(found)
        if endpoint.cache is not None and endpoint.method == "GET":
            middleware.append(
                response_cache(ttl=endpoint.cache.ttl, vary=endpoint.cache.vary, store=cache)
            )
        backends = [_Backend(b, upstreams.get(b.upstream)) for b in endpoint.backends]
        handler = _Endpoint(endpoint, backends, config.timeout)
        router.add(endpoint.method, endpoint.path, *middleware, handler, name=endpoint.name)
    if errors:
        raise GatewayConfigError(errors)

    app = app if app is not None else App()
    from ...middleware.error_handler import error_handler
    from ...middleware.request_id import request_id

    app.use(error_handler(), request_id())
    app.use(bff(upstreams, cache=cache, app=app))
    if storage is not None:
        app.on("shutdown", storage.close)
    if config.redis:
        from ...stores.redis import RedisStore

        for store in limit_stores:
            if isinstance(store, RedisStore):
                app.on("shutdown", store.close)
        shared = [*limit_stores, cache.l2.store if cache.l2 else None]
        shared.append(storage.store if storage else None)
        app.on("startup", _connect([s for s in shared if isinstance(s, RedisStore)]))
    if config.openapi is not None:
        spec = orjson.dumps(openapi_spec(config))
        openapi_path = config.openapi

        @router.get(openapi_path, name="openapi")
        async def openapi(ctx: Context) -> None:
            ctx.type = "application/json"
            ctx.body = spec

    gateway = Gateway(app, config, upstreams, cache, router)
    if config.status is not None:
        from ...observability.status import status_page, status_route

        router.get(config.status, status_route(upstreams, cache), name="status")
        # The live dashboard next to it: /_scallion/status -> page at /_scallion.
        dashboard = config.status.rstrip("/").rsplit("/", 1)[0] or "/_scallion"
        app.use(status_page(dashboard, upstreams=upstreams, caches=cache))
    app.use(router.routes(), router.allowed_methods())
    vars(app.state)["gateway"] = gateway
    return gateway
