"""Seed 001 §6.2.2 (next() 之后的代码): post-processing on the way out: a response-time header,
wrapping object bodies as ``{code, data, requestId}``, and turning errors into ``{error}``.
"""

from __future__ import annotations

import time
from typing import Any

from scallion import App, Context
from scallion.errors import error_status
from scallion.types import Next

app = App()


async def start(ctx: Context, next: Next) -> None:
    ctx.state.start_time = time.monotonic()
    ctx.state.request_id = ctx.get("x-request-id") or "generated-id"
    await next()


async def post_process(ctx: Context, next: Next) -> None:
    try:
        await next()
        # after next(): post-processing
        duration = (time.monotonic() - ctx.state.start_time) * 1000
        ctx.set("X-Response-Time", f"{duration:.0f}ms")  # change response headers
        if isinstance(ctx.body, dict | list):  # reshape the response
            ctx.body = {"code": 0, "data": ctx.body, "requestId": ctx.state.request_id}
    except Exception as err:
        ctx.status = error_status(err)
        ctx.body = {"error": str(err)}


async def routes(ctx: Context, next: Next) -> Any:
    if ctx.path == "/user":
        ctx.body = {"name": "ann"}
    elif ctx.path == "/text":
        ctx.body = "plain text is left alone"
    elif ctx.path == "/fail":
        ctx.throw(400, "bad input")


app.use(start, post_process, routes)
