"""Seed 001 §3.2 (组合中间件): ``compose([...])`` turns several middleware into one, which the
app then uses like any other.
"""

from __future__ import annotations

from scallion import App, Context, compose
from scallion.types import Next


async def middleware1(ctx: Context, next: Next) -> None:
    print("middleware 1 in")
    await next()
    print("middleware 1 out")


async def middleware2(ctx: Context, next: Next) -> None:
    print("middleware 2 in")
    await next()
    print("middleware 2 out")


middlewares = compose([middleware1, middleware2])


async def hello(ctx: Context, next: Next) -> None:
    print("handler")
    ctx.body = "Hello World"


app = App().use(middlewares, hello)
