"""Seed 001 §2.3 + §3.1: JWT auth on everything except public paths, with ``unless``.

Koa::

    authMiddleware.unless = unless;
    app.use(authMiddleware.unless({ path: [/^\\/public/, '/login', '/register'] }));

scallion::

    app.use(unless(auth, path=[re.compile(r"^/public"), "/login", "/register"]))

Run ``scallion serve examples.seeds.mw_auth_unless:app``; ``POST /login`` returns a token
for ``GET /profile`` (``Authorization: Bearer <token>``). A string path matches exactly,
a regex with ``.search`` (JavaScript's ``.test``).
"""

from __future__ import annotations

import os
import re
import time

import jwt

from scallion import App, Context
from scallion.middleware import error_handler, unless
from scallion.router import Router
from scallion.types import Next

SECRET = os.environ.get("JWT_SECRET", "demo-secret-change-me-0123456789abcdef")


async def auth(ctx: Context, next: Next) -> None:
    """Seed §2.3: a missing token is 401; a bad one is a JWT error that error_handler maps."""
    header = ctx.get("authorization")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        ctx.throw(401, "No authentication token provided")
    vars(ctx.state)["user"] = jwt.decode(token, SECRET, algorithms=["HS256"])
    await next()


router = Router()


@router.get("/public/info")
async def info(ctx: Context) -> None:
    ctx.body = {"service": "demo", "public": True}


@router.post("/login")
async def login(ctx: Context) -> None:
    claims = {"sub": "alice", "exp": int(time.time()) + 3600}
    ctx.body = {"token": jwt.encode(claims, SECRET, algorithm="HS256")}


@router.post("/register")
async def register(ctx: Context) -> None:
    ctx.status = 201
    ctx.body = {"registered": True}


@router.get("/profile")
async def profile(ctx: Context) -> None:
    ctx.body = {"user": ctx.state.user["sub"]}


app = App()
app.use(error_handler())
app.use(unless(auth, path=[re.compile(r"^/public"), "/login", "/register"]))
app.use(router.routes(), router.allowed_methods())
