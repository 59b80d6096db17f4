"""Seed 001 §8.5 (正确的错误处理): handle an error where you can see it (set the status, emit
``"error"``), then raise it again so outer layers and the App still see it. The App
reports it too when it arrives, as Koa's does, so a listener hears about it twice.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.errors import error_status
from scallion.types import Next


async def report_and_rethrow(ctx: Context, next: Next) -> None:
    try:
        await next()
    except Exception as err:
        ctx.status = error_status(err)  # make sure the error is dealt with
        ctx.app.emit("error", err, ctx)
        raise  # keep it travelling outwards


async def failing(ctx: Context, next: Next) -> None:
    ctx.throw(403, "not yours")


events: list[str] = []
app = App().use(report_and_rethrow, failing)
app.on("error", lambda err, ctx: events.append(f"{ctx.path}: {err}"))
