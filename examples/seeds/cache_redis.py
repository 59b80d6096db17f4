"""Seed 001 §7.3.1 and §8.9 (合理使用缓存): a response cache on Redis, the scallion way.

The seed's middleware::

    const cached = await redis.get(`cache:${ctx.url}`);
    if (cached) { ctx.body = JSON.parse(cached); return; }
    await next();
    await redis.set(cacheKey, JSON.stringify(ctx.body), 'EX', 3600);

caches whatever came back: errors, other users' private pages, bodies it cannot
serialize. The same idea over ``scallion.stores.RedisStore`` caches only successful
GET responses with a JSON body, never ones that set cookies or carry credentials, and
when Redis is down it serves from the route instead of failing. For a full cache (L1 +
Redis, stale-while-revalidate, request coalescing, Vary) use
``scallion.bff.cache_middleware.response_cache(store=Cache(..., redis=...))``.

Run ``REDIS_URL=redis://127.0.0.1:6379/0 scallion serve examples.seeds.cache_redis:app``.
"""

from __future__ import annotations

import logging
import os

import orjson

from scallion import App, Context
from scallion.middleware import error_handler
from scallion.router import Router
from scallion.stores import StoreError
from scallion.stores.redis import RedisStore
from scallion.types import Middleware, Next

logger = logging.getLogger("examples.cache_redis")


def redis_cache(store: RedisStore, *, ttl: float = 3600) -> Middleware:
    async def cache(ctx: Context, next: Next) -> None:
        if ctx.method != "GET" or ctx.get("authorization") or ctx.get("cookie"):
            await next()
            return
        key = f"cache:{ctx.url}"
        try:
            cached = await store.get(key)
        except StoreError as exc:  # Redis down: answer from the route, do not fail
            logger.warning("cache read skipped: %s", exc)
            cached = None
        if cached is not None:
            ctx.body = orjson.loads(cached)
            ctx.set("X-Cache", "HIT")
            return
        await next()
        ctx.set("X-Cache", "MISS")
        if ctx.status == 200 and isinstance(ctx.body, dict | list) and not ctx.has("set-cookie"):
            try:
                await store.set(key, orjson.dumps(ctx.body), ttl=ttl)
            except StoreError as exc:
                logger.warning("cache write skipped: %s", exc)

    return cache


def build(store: RedisStore, *, ttl: float = 3600) -> App:
    router = Router()
    calls = {"products": 0}

    @router.get("/products")
    async def products(ctx: Context) -> None:
        calls["products"] += 1  # how often the route really ran
        ctx.body = {"items": ["tea", "rice"], "computed": calls["products"]}

    @router.get("/missing")
    async def missing(ctx: Context) -> None:
        ctx.throw(404, "no such thing")

    app = App()
    app.state.calls = calls
    app.use(error_handler(), redis_cache(store, ttl=ttl))
    app.use(router.routes(), router.allowed_methods())
    return app


app = build(RedisStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix="seed:"))
