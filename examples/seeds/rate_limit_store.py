"""Seed 001 §3.3 (参数化中间件), the production version: ``rateLimit({interval, max})`` becomes
``scallion.middleware.rate_limit(max, interval_seconds)``.

The seed keeps a ``Map`` of timestamps per ip, reads it, filters it and writes it back:
per process, unbounded, and racy across workers. ``rate_limit`` makes each request one
atomic hit in a ``Store``: in memory for one process, or in Redis (one Lua script) so every
worker and every machine shares one exact limit. Clients see ``RateLimit-*`` headers and a
429 with ``Retry-After``. (``examples/seeds/rate_limit.py`` keeps the seed's own shape.)

Run ``scallion serve examples.seeds.rate_limit_store:app``; set ``REDIS_URL`` to share the
limit through Redis.
"""

from __future__ import annotations

import os

from scallion import App, Context
from scallion.middleware import error_handler, rate_limit
from scallion.stores import Store
from scallion.types import Next


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


def build(
    *,
    interval: int = 60_000,
    max: int = 100,
    store: Store | None = None,
    redis_url: str | None = None,
) -> App:
    """The seed's options (``interval`` in ms, ``max`` requests) on a memory or Redis store."""
    limiter = rate_limit(
        max,
        interval / 1000,
        key="ip",  # ctx.ip: X-Forwarded-For counts only with App(proxy=True)
        store=store if store is not None else ("redis" if redis_url else "memory"),
        redis_url=redis_url if store is None else None,
    )
    app = App()
    app.use(error_handler(), limiter, hello)
    return app


app = build(interval=60_000, max=100, redis_url=os.environ.get("REDIS_URL"))
