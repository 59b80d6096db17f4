"""Seed 003 §2.1-2.2 (无参定义 / 传参定义): a plain middleware, and a factory taking a parameter,
used both app-wide and on one route: ``router.get(path, mw1(param), mw2, handler)``.
"""

from __future__ import annotations

from typing import Any

from scallion import App, Context
from scallion.router import Router
from scallion.types import Middleware, Next


async def router2(ctx: Context, next: Next) -> None:
    """2.1: defined without parameters."""
    print("Koa middleware---router2: before next()")
    await next()
    print("Koa middleware---router2: after next()")


def router1(params: Any) -> Middleware:
    """2.2: defined with parameters: a function returning the middleware."""

    async def middleware(ctx: Context, next: Next) -> None:
        print("Koa middleware---router1 params:", params)
        print("Koa middleware---router1: before next()")
        await next()
        print("Koa middleware---router1: after next()")

    return middleware


router = Router()


async def route_logic(ctx: Context) -> None:
    print("route logic")
    ctx.body = "route answered"


router.get("/page", router1({"scope": "page"}), router2, route_logic)

app = App()
app.use(router1("app-wide"))
app.use(router.routes())
