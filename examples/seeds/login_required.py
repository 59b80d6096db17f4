"""Seed 002 §2.2.2 (路由级中间件): ``loginRequired`` guards one route only:
``app.get('/private', loginRequired, handler)`` redirects to ``/login`` without a user.

Who the user is comes from an onion middleware here (a ``X-User`` header stands in for a
session); what it puts on ``ctx.state`` is ``req.user`` in the Express handlers.
"""

from __future__ import annotations

from typing import Any

from scallion import App, Context
from scallion.express import Express
from scallion.types import Next


async def session(ctx: Context, next: Next) -> None:
    ctx.state.user = ctx.get("x-user") or None
    await next()


def login_required(req: Any, res: Any, next: Any) -> None:
    if not req.user:
        return res.redirect("/login")  # type: ignore[no-any-return]
    next()


ex = Express()
ex.get("/private", login_required, lambda req, res: res.send("Hello private page!"))
ex.get("/public", lambda req, res: res.send("Hello everyone!"))
ex.get("/login", lambda req, res: res.send("Please log in"))

app = App().use(session, ex)
