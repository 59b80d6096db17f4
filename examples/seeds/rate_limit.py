"""Seed 001 §3.3 (参数化中间件): a rate-limit factory over an in-memory dict of timestamps.

Each client ip may make ``max`` requests per ``interval`` milliseconds; the next one is
refused with 429. (The production version lives in ``scallion.middleware``; this is the
seed's teaching shape: a factory closing over its options and its store.)
"""

from __future__ import annotations

import time

from scallion import App, Context
from scallion.types import Middleware, Next


def rate_limit(*, interval: int = 60_000, max: int = 100) -> Middleware:
    store: dict[str, list[float]] = {}

    async def limit(ctx: Context, next: Next) -> None:
        key = ctx.ip
        now = time.monotonic() * 1000
        requests = store.get(key, [])

        # drop the records that fell out of the window
        valid_requests = [t for t in requests if now - t < interval]

        if len(valid_requests) >= max:
            ctx.throw(429, "Too many requests")

        valid_requests.append(now)
        store[key] = valid_requests

        await next()

    return limit


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app = App().use(rate_limit(interval=60_000, max=3), hello)
