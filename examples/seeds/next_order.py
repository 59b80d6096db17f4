"""Seed 001 §6.1 (代码执行顺序示例): code before ``await next()`` runs on the way in, after it
on the way out; the innermost layer ends the chain by not calling ``next``.
"""

from __future__ import annotations

import time

from scallion import App, Context
from scallion.types import Next

app = App()


async def timer(ctx: Context, next: Next) -> None:
    print("1. code before next()")
    start = time.perf_counter()  # before next(): the request phase

    await next()  # the dividing line

    elapsed = (time.perf_counter() - start) * 1000  # after next(): the response phase
    print("4. code after next()")
    print(f"request took {elapsed:.0f}ms")


async def second(ctx: Context, next: Next) -> None:
    print("2. second middleware starts")
    await next()
    print("3. second middleware ends")


async def innermost(ctx: Context, next: Next) -> None:
    print("-> reached the innermost middleware")
    ctx.body = "Hello World"


app.use(timer, second, innermost)
