"""Seed 001 §6.3.1 (完整的日志中间件): log the request and its headers before ``next()``, the
status and time after it, and on an error log it and raise it again.
"""

from __future__ import annotations

import time

from scallion import App, Context
from scallion.types import Next

app = App()


async def full_logger(ctx: Context, next: Next) -> None:
    # before next(): the request
    start = time.perf_counter()
    print(f"[request start] {ctx.method} {ctx.url}")
    print("request headers:", dict(ctx.headers))

    try:
        await next()

        # after next(): the response
        duration = (time.perf_counter() - start) * 1000
        print(f"[request done] {ctx.method} {ctx.url}")
        print(f"response status: {ctx.status}")
        print(f"response time: {duration:.0f}ms")
    except Exception as err:
        duration = (time.perf_counter() - start) * 1000
        print(f"[request error] {ctx.method} {ctx.url}")
        print("error:", repr(err))
        print(f"response time: {duration:.0f}ms")
        raise


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/boom":
        raise ValueError("handler failed")
    ctx.body = {"ok": True}


app = App().use(full_logger, routes)
app.on("error", lambda err, ctx: None)  # the logger above already reported it
