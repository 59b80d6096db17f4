"""Seed 001 §6.3.2 (响应格式化中间件): a request id prepared before ``next()`` and the uniform
``{code, data, requestId, timestamp}`` shape applied after it.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

from scallion import App, Context
from scallion.types import Next

app = App()


def short_id() -> str:
    """``Math.random().toString(36).substring(7)``: a few random base-36 characters."""
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=6))


async def format_with_request_id(ctx: Context, next: Next) -> None:
    # before next(): preparation
    ctx.state.request_id = short_id()

    await next()

    # after next(): the uniform response shape
    if ctx.body is not None:
        ctx.body = {
            "code": 0 if ctx.status == 200 else ctx.status,
            "data": ctx.body,
            "requestId": ctx.state.request_id,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app.use(format_with_request_id, hello)
