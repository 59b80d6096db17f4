"""Seed 001 §5.1 (中间件封装): a logger packaged as a factory with options.

``logger(console=True)`` prints ``METHOD URL - Nms``; ``logger(header_enabled=True)`` sets
``X-Response-Time``. (The seed's ``headerEnabled`` is ``header_enabled`` in Python.)
"""

from __future__ import annotations

import time

from scallion import App, Context
from scallion.types import Middleware, Next


def logger(*, console: bool = False, header_enabled: bool = False) -> Middleware:
    """``middleware/logger.js``: ``module.exports = (options = {}) => async (ctx, next) => ...``."""

    async def log_requests(ctx: Context, next: Next) -> None:
        start = time.perf_counter()
        await next()
        ms = (time.perf_counter() - start) * 1000

        if console:
            print(f"{ctx.method} {ctx.url} - {ms:.0f}ms")

        if header_enabled:
            ctx.set("X-Response-Time", f"{ms:.0f}ms")

    return log_requests


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app = App().use(logger(console=True, header_enabled=True), hello)
quiet_app = App().use(logger(), hello)
