"""Seed 001 §7.4.1: a middleware that needs the raw body, and the body parser.

Koa::

    // wrong: bodyParser consumed the stream, getRawBody(ctx.req) may fail
    app.use(bodyParser());
    app.use(async (ctx, next) => { const raw = await getRawBody(ctx.req); ... });

    // right: read the raw body first, then parse
    app.use(async (ctx, next) => { ctx.state.rawBody = await getRawBody(ctx.req); ... });
    app.use(bodyParser());

scallion reads a body once and caches it, so ``await ctx.request.body()`` gives the same
bytes before or after ``body_parser()``: both orders work. ``parser_first`` and
``raw_first`` build the two stacks; a webhook signature check over the raw bytes is the
usual reason to want them.
"""

from __future__ import annotations

import hashlib
import hmac

from scallion import App, Context
from scallion.middleware import body_parser, error_handler
from scallion.types import Next

SECRET = b"webhook-secret"


def sign(raw: bytes) -> str:
    return hmac.new(SECRET, raw, hashlib.sha256).hexdigest()


async def verify_signature(ctx: Context, next: Next) -> None:
    raw = await ctx.request.body()
    ctx.state.raw_body = raw
    if not hmac.compare_digest(sign(raw), ctx.get("x-signature")):
        ctx.throw(401, "bad signature")
    await next()


async def webhook(ctx: Context, next: Next) -> None:
    ctx.body = {
        "event": ctx.request.parsed["event"],
        "raw_bytes": len(ctx.state.raw_body),
    }


def build(raw_first: bool) -> App:
    app = App()
    app.use(error_handler())
    if raw_first:
        app.use(verify_signature, body_parser())
    else:
        app.use(body_parser(), verify_signature)
    app.use(webhook)
    return app


raw_first = build(raw_first=True)
parser_first = build(raw_first=False)
