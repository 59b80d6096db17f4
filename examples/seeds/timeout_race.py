"""Seed 001 §8.13 (超时处理): race the rest of the chain against a timer; a late answer
becomes 504 "Request timeout".

The seed races ``next()`` against a rejecting promise; ``asyncio.timeout`` is the Python
form, and it also cancels the slow inner layers instead of leaving them running.
"""

from __future__ import annotations

import asyncio

from scallion import App, Context
from scallion.types import Middleware, Next


def timeout(seconds: float = 5.0) -> Middleware:
    async def race(ctx: Context, next: Next) -> None:
        try:
            async with asyncio.timeout(seconds):
                await next()
        except TimeoutError:
            ctx.status = 504
            ctx.body = "Request timeout"

    return race


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/slow":
        await asyncio.sleep(10)
    if ctx.path == "/broken":
        raise ValueError("not a timeout")  # other errors pass through unchanged
    ctx.body = "in time"


app = App().use(timeout(0.1), routes)
app.on("error", lambda err, ctx: None)
