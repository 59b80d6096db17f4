"""Seed 001 §8.6 (正确使用 ctx.state): share data between middleware through ``ctx.state``."""

from __future__ import annotations

from scallion import App, Context
from scallion.types import Next

USERS = {"Bearer ann-token": {"name": "ann"}}


async def get_user(authorization: str) -> dict[str, str] | None:
    return USERS.get(authorization)


async def load_user(ctx: Context, next: Next) -> None:
    ctx.state.user = await get_user(ctx.headers.get("authorization", ""))
    await next()


async def use_user(ctx: Context, next: Next) -> None:
    user = ctx.state.user  # set by the middleware before this one
    ctx.body = {"hello": user["name"] if user else "stranger"}


app = App().use(load_user, use_user)
