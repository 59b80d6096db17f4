"""Seed 001 §8.14 (添加调试信息): tag each request with an id and log its start and, in
``finally``, its completion, even when it fails.
"""

from __future__ import annotations

import time
import uuid

from scallion import App, Context
from scallion.types import Next


async def debug_info(ctx: Context, next: Next) -> None:
    request_id = str(uuid.uuid4())
    ctx.state.request_id = request_id

    print(f"[{request_id}] Request started: {ctx.method} {ctx.url}")
    start = time.perf_counter()

    try:
        await next()
    finally:
        print(f"[{request_id}] Request completed in {(time.perf_counter() - start) * 1000:.0f}ms")


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/fail":
        raise RuntimeError("boom")
    ctx.body = {"request_id": ctx.state.request_id}


app = App().use(debug_info, routes)
app.on("error", lambda err, ctx: None)
