"""Seed 001 §5.3: middleware managed by configuration, from a YAML file or a dict.

Koa::

    if (middlewareConfig.cors.enabled) app.use(cors(middlewareConfig.cors.options));
    if (middlewareConfig.bodyParser.enabled)
        app.use(bodyParser(middlewareConfig.bodyParser.options));

scallion: ``app.use(from_config("mw_config.yaml"))`` builds every enabled entry in order
and checks it at start-up: an unknown name or a bad option is a ``ConfigError`` naming the
entry and the file, before the first request. ``cors`` and ``bodyParser`` are written in
the seed's shape, camelCase options (``allowMethods``, ``jsonLimit``) included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scallion import App, Context
from scallion.middleware import from_config
from scallion.router import Router

CONFIG_FILE = Path(__file__).with_name("mw_config.yaml")

MIDDLEWARE_CONFIG: dict[str, Any] = {
    "errorHandler": {"enabled": True},
    "requestId": {"enabled": True, "options": {"header": "X-Request-ID"}},
    "responseTime": {"enabled": True, "options": {"digits": 1}},
    "envelope": {"enabled": True, "options": {"include": ["code", "data", "message"]}},
    "cors": {"enabled": True, "options": {"origin": "*"}},
}
"""The same idea as a Python mapping (what ``config/middleware.js`` exports)."""

router = Router()


@router.get("/hello")
async def hello(ctx: Context) -> None:
    ctx.body = {"hello": "config"}


@router.post("/echo")
async def echo(ctx: Context) -> None:
    ctx.body = {"parsed": ctx.request.parsed}


@router.get("/fail")
async def fail(ctx: Context) -> None:
    ctx.throw(418, "short and stout")


def build(config: Any = CONFIG_FILE) -> App:
    app = App()
    app.use(from_config(config))
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
dict_app = build(MIDDLEWARE_CONFIG)
