"""Seed 001 §2.1 (错误处理中间件): the outermost try/except turns any error into a JSON body,
shows the stack only in development, and still emits ``"error"`` on the app.
"""

from __future__ import annotations

import traceback

from scallion import App, Context
from scallion.errors import error_status
from scallion.types import Next

app = App()


async def handle_errors(ctx: Context, next: Next) -> None:
    try:
        await next()
    except Exception as err:
        ctx.status = error_status(err)  # err.status || 500
        ctx.body = {
            "code": ctx.status,
            "message": str(err),
            "error": "".join(traceback.format_exception(err)) if ctx.app.development else None,
        }
        ctx.app.emit("error", err, ctx)  # raise the app-level error event


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/missing":
        ctx.throw(404, "no such thing")
    if ctx.path == "/crash":
        raise RuntimeError("something broke")
    ctx.body = "fine"


@app.on("error")
def report(err: BaseException, ctx: Context) -> None:
    print(f"error event: {ctx.method} {ctx.path}: {err}")


app.use(handle_errors, routes)
