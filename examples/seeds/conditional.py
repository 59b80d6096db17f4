"""Seed 001 §7.4.2 (条件中间件): a factory that runs a middleware only when a condition holds,
and otherwise just passes on with ``next()``.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.types import Middleware, Next


async def some_middleware(ctx: Context, next: Next) -> None:
    ctx.set("X-Special", "applied")
    await next()


def conditional_middleware(condition: bool) -> Middleware:
    async def maybe(ctx: Context, next: Next) -> None:
        if condition:
            await some_middleware(ctx, next)  # run the specific logic
        else:
            await next()

    return maybe


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


enabled_app = App().use(conditional_middleware(True), hello)
disabled_app = App().use(conditional_middleware(False), hello)
app = enabled_app
