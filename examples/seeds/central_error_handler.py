"""Seed 001 §8.16 (集中式错误处理): one error-handling middleware, registered first, answers
``{"error": {code, message, stack?}}`` and emits ``"error"`` for logging.
"""

from __future__ import annotations

import traceback

from scallion import App, Context, HttpError
from scallion.errors import error_status
from scallion.types import Next


async def error_handler(ctx: Context, next: Next) -> None:
    try:
        await next()
    except Exception as err:
        ctx.status = error_status(err)
        error: dict[str, str] = {
            "code": getattr(err, "code", None) or "INTERNAL_ERROR",
            "message": str(err) or "Internal Server Error",
        }
        if ctx.app.development:
            error["stack"] = "".join(traceback.format_exception(err))
        ctx.body = {"error": error}
        ctx.app.emit("error", err, ctx)  # record the error


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/order":
        raise HttpError(409, "order already paid", code="ORDER_PAID")
    if ctx.path == "/crash":
        raise RuntimeError("database unreachable")
    ctx.body = "ok"


errors_seen: list[BaseException] = []
app = App(env="production").use(error_handler, routes)
app.on("error", lambda err, ctx: errors_seen.append(err))
