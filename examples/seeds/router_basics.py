"""Seed 001 §4.3: routing (koa-router).

Koa::

    const router = new Router();
    router.get('/', async (ctx) => { ctx.body = 'Hello World'; });
    router.post('/users', async (ctx) => { /* create a user */ });
    app.use(router.routes());
    app.use(router.allowedMethods());

scallion's ``Router`` has @koa/router's semantics: ``allowed_methods()`` answers OPTIONS
with ``Allow``, a known path with the wrong method with 405, and an unknown method with
501. The seed leaves the user creation empty; here it parses the body with
``body_parser()`` and answers 201.
"""

from __future__ import annotations

from scallion import App, Context
from scallion.middleware import body_parser, error_handler
from scallion.router import Router

router = Router()
users: list[dict[str, str]] = []


@router.get("/")
async def home(ctx: Context) -> None:
    ctx.body = "Hello World"


@router.post("/users")
async def create_user(ctx: Context) -> None:
    data = ctx.request.parsed or {}
    user = {"id": str(len(users) + 1), "name": str(data.get("name", "anonymous"))}
    users.append(user)
    ctx.status = 201
    ctx.body = user


app = App()
app.use(error_handler(), body_parser(enable_types=["json"]))
app.use(router.routes())
app.use(router.allowed_methods())
