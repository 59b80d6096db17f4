"""Seed 001 §8.10 (请求验证): an API key is required and bodies over 1 MB are refused.

Koa::

    const apiKey = ctx.headers['x-api-key'];
    if (!apiKey) ctx.throw(401, 'API key required');
    const contentLength = parseInt(ctx.headers['content-length']);
    if (contentLength > 1024 * 1024) ctx.throw(413, 'Request entity too large');

The seed only checks that *some* key is present, and trusts ``Content-Length`` (a chunked
body has none, and a client can lie). scallion: ``api_key(keys=...)`` checks the key
itself in constant time, and the request body limit (``App(body_limit=...)``, 1 MiB by
default) is enforced while the body streams in, whatever the headers say; a declared
``Content-Length`` over the limit is refused before reading anything.

Run ``SCALLION_API_KEYS=key1,key2 scallion serve examples.seeds.request_validation:app``.
"""

from __future__ import annotations

import os

from scallion import App, Context
from scallion.middleware import api_key, error_handler
from scallion.router import Router
from scallion.types import Middleware, Next

LIMIT = 1024 * 1024


def declared_size(limit: int) -> Middleware:
    """The seed's early check, for every route: a declared length over ``limit`` is a 413.

    (Reading the body enforces the limit again while it streams, for chunked bodies and
    clients whose ``Content-Length`` is not the truth.)
    """

    async def check(ctx: Context, next: Next) -> None:
        length = ctx.request.length  # None when absent or not a number
        if length is not None and length > limit:
            ctx.throw(413, "Request entity too large")
        await next()

    return check


def build(keys: list[str] | None = None, *, body_limit: int = LIMIT) -> App:
    router = Router()

    @router.post("/upload")
    async def upload(ctx: Context) -> None:
        data = await ctx.request.body()  # 413 as soon as the stream passes body_limit
        ctx.body = {"received": len(data), "client": ctx.state.api_key}

    app = App(body_limit=body_limit)
    app.use(error_handler())
    app.use(api_key(keys or os.environ.get("SCALLION_API_KEYS", "demo-key").split(",")))
    app.use(declared_size(body_limit))  # the seed's order: the key first, then the size
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
