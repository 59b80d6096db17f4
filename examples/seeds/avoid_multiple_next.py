"""Seed 001 §8.1 (避免多次调用 next()): call ``next()`` once; a second call is refused with
``RuntimeError("next() called multiple times")``, which the App answers with a 500.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.types import Next


async def once(ctx: Context, next: Next) -> None:
    await next()  # called only once
    # await next()  # wrong: never call it again


async def twice(ctx: Context, next: Next) -> None:
    await next()
    await next()  # the mistake the seed warns about


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app = App().use(once, hello)

errors_seen: list[BaseException] = []
wrong_app = App(env="production").use(twice, hello)
wrong_app.on("error", lambda err, ctx: errors_seen.append(err))
