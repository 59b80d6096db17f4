"""Seed 001 §2.3 (认证中间件) on the library: ``jwt_auth`` instead of a hand-written verify.

Koa::

    const token = ctx.header.authorization?.split(' ')[1];
    if (!token) ctx.throw(401, '未提供认证令牌');
    ctx.state.user = jwt.verify(token, process.env.JWT_SECRET);

scallion::

    app.use(jwt_auth(secret=os.environ["JWT_SECRET"], algorithms=["HS256"]))

What the library adds over the seed: the accepted algorithms are fixed (``alg: none`` and
HS/RS key confusion are refused), ``exp`` is required, huge or malformed tokens are
refused before parsing, and every 401 carries an RFC 6750 ``WWW-Authenticate`` challenge.

Run ``JWT_SECRET=... scallion serve examples.seeds.auth_jwt:app``.
"""

from __future__ import annotations

import os
import time

import jwt

from scallion import App, Context
from scallion.middleware import error_handler, jwt_auth, unless
from scallion.router import Router

SECRET = os.environ.get("JWT_SECRET", "demo-secret-change-me-0123456789abcdef")


def issue(sub: str, *, ttl: int = 3600, secret: str = SECRET) -> str:
    """What a login endpoint hands out (the seed leaves this to the reader)."""
    return jwt.encode({"sub": sub, "exp": int(time.time()) + ttl}, secret, algorithm="HS256")


def build(secret: str = SECRET) -> App:
    router = Router()

    @router.post("/login")
    async def login(ctx: Context) -> None:
        ctx.body = {"token": issue("alice", secret=secret)}

    @router.get("/profile")
    async def profile(ctx: Context) -> None:
        ctx.body = {"user": ctx.state.user["sub"]}

    auth = jwt_auth(secret=secret, algorithms=["HS256"])
    app = App()
    app.use(error_handler())
    app.use(unless(auth, path=["/login"]))
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
