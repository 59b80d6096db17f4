"""Seed 001 §7.2.4 (业务相关中间件): who the user is, then whether they may pass.

Koa::

    app.use(async (ctx, next) => {                 // user authentication
        const token = ctx.headers.authorization;
        if (token) ctx.state.user = await verifyToken(token);
        await next();
    });
    app.use(async (ctx, next) => {                 // permission check
        if (!ctx.state.user) ctx.throw(401, '未授权');
        await next();
    });

scallion: the first is ``jwt_auth(passthrough=True)`` (a request without a token passes
with no user; a bad token is still a 401), the second a small middleware, plus a role
check on one route. They sit inside ``error_handler`` and outside the routes, because they
rely on the outer layers and the routes rely on them.

Run ``scallion serve examples.seeds.user_permission:app``.
"""

from __future__ import annotations

import os
import time

import jwt

from scallion import App, Context
from scallion.middleware import error_handler, jwt_auth
from scallion.router import Router
from scallion.types import Middleware, Next

SECRET = os.environ.get("JWT_SECRET", "demo-secret-change-me-0123456789abcdef")


def token_for(sub: str, role: str = "user", secret: str = SECRET) -> str:
    claims = {"sub": sub, "role": role, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


async def require_user(ctx: Context, next: Next) -> None:
    """The seed's permission check: no user, no entry."""
    if ctx.state.get("user") is None:
        ctx.throw(401, "Unauthorized")
    await next()


def require_role(role: str) -> Middleware:
    async def check(ctx: Context, next: Next) -> None:
        if ctx.state.user.get("role") != role:
            ctx.throw(403, f"{role} only")
        await next()

    return check


def build(secret: str = SECRET) -> App:
    router = Router()

    @router.get("/me")
    async def me(ctx: Context) -> None:
        ctx.body = {"user": ctx.state.user["sub"], "role": ctx.state.user.get("role")}

    async def admin_panel(ctx: Context) -> None:
        ctx.body = {"panel": "admin"}

    router.get("/admin", require_role("admin"), admin_panel)

    app = App()
    app.use(error_handler())
    app.use(jwt_auth(secret=secret, algorithms=["HS256"], passthrough=True))  # user auth
    app.use(require_user)  # permission check
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
