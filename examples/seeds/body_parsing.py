"""Seed 001 §4.1: request-body parsing (koa-bodyparser).

Koa::

    app.use(bodyParser({
        enableTypes: ['json', 'form'],
        jsonLimit: '5mb',
        formLimit: '5mb'
    }));

scallion: ``body_parser(...)`` takes the same options in snake_case and leaves the result
in ``ctx.request.parsed`` (Koa's ``ctx.request.body``). Limits are enforced while the body
streams in (413), malformed JSON is a 400 with the parser's message, and a type not
enabled (text here) is left unparsed.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.middleware import body_parser, error_handler
from scallion.router import Router

router = Router()


@router.post("/users")
async def create_user(ctx: Context) -> None:
    data = ctx.request.parsed
    if not isinstance(data, dict) or not data.get("name"):
        ctx.throw(400, "name is required")
    ctx.status = 201
    ctx.body = {"created": data["name"], "fields": sorted(data)}


@router.post("/echo")
async def echo(ctx: Context) -> None:
    ctx.body = {"parsed": ctx.request.parsed, "bytes": len(await ctx.request.body())}


app = App()
app.use(error_handler())
app.use(body_parser(enable_types=["json", "form"], json_limit="5mb", form_limit="5mb"))
app.use(router.routes(), router.allowed_methods())
