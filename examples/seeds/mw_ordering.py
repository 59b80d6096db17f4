"""Seed 001 §7.1 / §8.2: the recommended order, outermost first.

1. error handling: ``error_handler()``, so it catches errors from everything below;
2. global middleware: ``request_id()``, ``logger()`` and ``response_time()``;
3. third-party features: ``security_headers()``, ``cors()``, ``compress()`` and
   ``body_parser()``, as in the seed's §7.1 (``cors`` first so even a compressed or
   failed response is marked; ``compress`` outside what produces bodies);
4. business middleware: auth, skipped for public paths with ``unless``;
5. routes.

Getting it wrong (§8.3: routes before the error handler) means the routes' errors are
never caught by it; the test for this example shows both.
"""

from __future__ import annotations

import logging
import re

from scallion import App, Context
from scallion.middleware import (
    body_parser,
    compress,
    cors,
    error_handler,
    logger,
    request_id,
    response_time,
    security_headers,
    unless,
)
from scallion.router import Router
from scallion.types import Next

TOKENS = {"secret-token": "alice"}


async def auth(ctx: Context, next: Next) -> None:
    user = TOKENS.get(ctx.get("authorization").removeprefix("Bearer "))
    if user is None:
        ctx.throw(401, "Unauthorized")
    vars(ctx.state)["user"] = user
    await next()


router = Router()


@router.get("/public/ping")
async def ping(ctx: Context) -> None:
    ctx.body = {"pong": True}


@router.get("/me")
async def me(ctx: Context) -> None:
    ctx.body = {"user": ctx.state.user}


@router.post("/notes")
async def add_note(ctx: Context) -> None:
    ctx.status = 201
    ctx.body = {"by": ctx.state.user, "note": ctx.request.parsed}


@router.get("/boom")
async def boom(ctx: Context) -> None:
    raise RuntimeError("internal detail")


access_log = logging.getLogger("examples.access")

app = App()
app.use(error_handler())  # 1
app.use(request_id(), logger(logger=access_log, format="json"), response_time())  # 2
app.use(security_headers(), cors(), compress(), body_parser())  # 3
app.use(unless(auth, path=[re.compile(r"^/public")]))  # 4
app.use(router.routes(), router.allowed_methods())  # 5

wrong_order = (
    App()
)  # §8.3's mistake, kept for the test: the router answers before errors are caught
wrong_order.use(router.routes())
wrong_order.use(error_handler())
