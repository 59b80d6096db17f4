"""Seed 001 §2.2 (日志中间件): log the request on the way in, its status and time on the way out."""

from __future__ import annotations

import time

from scallion import App, Context
from scallion.types import Next

app = App()


async def logger(ctx: Context, next: Next) -> None:
    start = time.perf_counter()

    print(f"--> {ctx.method} {ctx.url}")  # request log

    await next()

    ms = (time.perf_counter() - start) * 1000  # response log
    print(f"<-- {ctx.method} {ctx.url} {ctx.status} {ms:.0f}ms")


async def hello(ctx: Context, next: Next) -> None:
    if ctx.path == "/":
        ctx.body = "Hello World"


app.use(logger, hello)
