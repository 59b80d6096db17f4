"""Seed 001 §6.2.1 (next() 之前的代码): pre-processing, and stopping the request by returning
without calling ``next()``: no token, no further layers, a 401.
"""

from __future__ import annotations

import time
import uuid

from scallion import App, Context
from scallion.types import Next

app = App()


def generate_id() -> str:
    return uuid.uuid4().hex[:8]


async def guard(ctx: Context, next: Next) -> None:
    # before next(): pre-processing
    ctx.state.start_time = time.monotonic()
    ctx.state.request_id = generate_id()
    token = ctx.headers.get("authorization")

    if not token:
        ctx.status = 401
        return  # no token: return at once, next() is never called

    await next()


async def handler(ctx: Context, next: Next) -> None:
    ctx.body = {"request_id": ctx.state.request_id, "secret": "only with a token"}


app.use(guard, handler)
