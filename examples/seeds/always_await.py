"""Seed 001 §8.4 (始终使用 await): forgetting ``await`` before ``next()`` breaks the onion.

In development mode scallion catches the mistake and names the middleware in a 500 (and
in the ``"error"`` event) instead of leaving a "coroutine was never awaited" warning.
"""

from __future__ import annotations

import asyncio

from scallion import App, Context
from scallion.types import Next


async def do_async_operation() -> None:
    await asyncio.sleep(0)


async def wrong(ctx: Context, next: Next) -> None:
    do_async_operation()  # type: ignore[unused-coroutine]  # not awaited: may never finish
    next()  # not awaited: the onion falls apart


async def right(ctx: Context, next: Next) -> None:
    await do_async_operation()
    await next()


async def hello(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app = App().use(right, hello)

errors_seen: list[BaseException] = []
wrong_app = App(env="development").use(wrong, hello)
wrong_app.on("error", lambda err, ctx: errors_seen.append(err))
