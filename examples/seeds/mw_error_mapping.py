"""Seed 001 §5.2: one place maps validation, JWT and other errors to clean JSON.

Koa::

    if (err.isJoi)                         -> 400 {code, message: '参数验证失败', details}
    else if (err.name === 'UnauthorizedError') -> 401 {code, message: '认证失败'}
    else                                   -> err.status || 500 {code, message}

scallion's ``error_handler()`` does this mapping for pydantic (anything with
``.errors()``) and its own ``ValidationError``, PyJWT errors and ``HttpError``; a 500
never shows its message or stack in production, and every error reaches the app's
``"error"`` listeners (the seed's ``console.error(err)``).
"""

from __future__ import annotations

import logging

import jwt
import pydantic

from scallion import App, Context
from scallion.middleware import error_handler, request_id
from scallion.router import Router

log = logging.getLogger("examples.errors")


class NewUser(pydantic.BaseModel):
    name: str
    age: int


router = Router()


@router.post("/users")
async def create_user(ctx: Context) -> None:
    user = NewUser.model_validate(await ctx.request.json())  # 400 with details if invalid
    ctx.status = 201
    ctx.body = user.model_dump()


@router.get("/me")
async def me(ctx: Context) -> None:
    token = ctx.get("authorization").removeprefix("Bearer ")
    ctx.body = jwt.decode(token, "secret-key-for-the-demo-only-0123", algorithms=["HS256"])


@router.get("/orders/:id")
async def order(ctx: Context) -> None:
    ctx.throw(404, f"order {ctx.params['id']} not found")


@router.get("/crash")
async def crash(ctx: Context) -> None:
    raise RuntimeError("database password is hunter2")  # never shown to the client


app = App()
app.on("error", lambda err, ctx: log.warning("%s %s: %r", ctx.method, ctx.path, err))
app.use(error_handler(), request_id())
app.use(router.routes(), router.allowed_methods())
