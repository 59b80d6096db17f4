"""Seed 001 §7.3.2 and §8.11: security headers set early, then CSRF protection.

Koa::

    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-XSS-Protection', '1; mode=block');
    app.use(csrf());

scallion sets helmet's whole set with ``security_headers()`` (the seed's three headers
included; ``X-XSS-Protection`` is set to the seed's value here, though modern advice and
the default is ``0``), keeps them on error responses too, and ``csrf()`` guards unsafe
methods with a signed double-submit cookie.
"""

from __future__ import annotations

import os

from scallion import App, Context
from scallion.middleware import csrf, error_handler, security_headers
from scallion.router import Router

router = Router()


@router.get("/form")
async def form(ctx: Context) -> None:
    token = ctx.state.csrf_token
    ctx.body = (
        '<form method="post" action="/comments">'
        f'<input type="hidden" name="_csrf" value="{token}">'
        '<input name="text"><button>Send</button></form>'
    )


@router.post("/comments")
async def comment(ctx: Context) -> None:
    data = await ctx.request.form()
    ctx.status = 201
    ctx.body = {"saved": data.get("text")}


app = App(keys=[os.environ.get("APP_KEY", "demo-key-change-me-0123456789")])
app.use(error_handler())
app.use(security_headers(xss_protection="1; mode=block"))
app.use(csrf())
app.use(router.routes(), router.allowed_methods())
