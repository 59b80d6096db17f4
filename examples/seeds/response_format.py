"""Seed 001 §2.4 (响应格式化中间件): after ``next()``, wrap whatever body the inner layers set
as ``{code, data, message, timestamp}``; ``code`` is 0 for a 200, else the status.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scallion import App, Context
from scallion.types import Next

app = App()


def iso_now() -> str:
    """``new Date().toISOString()``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def format_response(ctx: Context, next: Next) -> None:
    await next()

    # one response shape for every body (a missing body stays a plain 404)
    if ctx.body is not None:
        ctx.body = {
            "code": 0 if ctx.status == 200 else ctx.status,
            "data": ctx.body,
            "message": ctx.message or "success",
            "timestamp": iso_now(),
        }


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/users":
        ctx.body = [{"id": 1}]
    elif ctx.path == "/created":
        ctx.status = 201
        ctx.body = {"id": 2}


app.use(format_response, routes)
