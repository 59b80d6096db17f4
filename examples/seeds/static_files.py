"""Seed 001 §4.2: static files (koa-static).

Koa::

    const serve = require('koa-static');
    app.use(serve(path.join(__dirname, 'public')));

scallion: ``serve_static(root)`` serves ``examples/seeds/public`` with ``ETag``,
``Last-Modified``, 304s, ``Range`` requests and no way out of the directory; paths with no
file fall through to the routes below it.
"""

from __future__ import annotations

from pathlib import Path

from scallion import App, Context
from scallion.middleware import serve_static
from scallion.router import Router

PUBLIC = Path(__file__).with_name("public")

router = Router()


@router.get("/api/hello")
async def hello(ctx: Context) -> None:
    ctx.body = {"hello": "from a route"}


app = App()
app.use(serve_static(PUBLIC))
app.use(router.routes(), router.allowed_methods())
