"""Seed 003 §3.1 (中间件中, 异常处理是怎么做的?): a top-level try/except catches what any lower
middleware raises, answers ``{"error": message}``, and emits ``"error"``, which an
``app.on("error")`` listener logs, so the process never dies of it.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.errors import error_status
from scallion.types import Next

app = App()


async def top_level_errors(ctx: Context, next: Next) -> None:
    try:
        await next()  # call the lower middleware
    except Exception as err:
        # caught: set the status and the error response
        ctx.status = error_status(err)
        ctx.body = {"error": str(err)}
        # emit "error" for central logging or alerting
        ctx.app.emit("error", err, ctx)


async def failing(ctx: Context, next: Next) -> None:
    raise RuntimeError("an error happened")  # simulate a failure


def global_error_handler(err: BaseException, ctx: Context) -> None:
    print(f"global error handler: {err!r}")


app.use(top_level_errors, failing)
app.on("error", global_error_handler)
