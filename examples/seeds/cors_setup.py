"""Seed 001 §4.4: CORS (@koa/cors).

Koa::

    app.use(cors({
        origin: '*',
        allowMethods: ['GET', 'POST', 'PUT', 'DELETE'],
        allowHeaders: ['Content-Type', 'Authorization']
    }));

scallion: ``cors(...)`` with the same options in snake_case. A preflight is answered with
204 before it reaches the routes; simple requests get ``Access-Control-Allow-Origin``.
``credentials_app`` shows the case the wildcard cannot serve: cookies across origins need
the origins listed (``cors(origin="*", credentials=True)`` is refused at start-up).
"""

from __future__ import annotations

from scallion import App, Context
from scallion.middleware import cors, error_handler
from scallion.router import Router

router = Router()


@router.get("/items")
async def items(ctx: Context) -> None:
    ctx.body = [{"id": 1}]


@router.delete("/items/:id")
async def remove(ctx: Context) -> None:
    ctx.body = None


@router.get("/private")
async def private(ctx: Context) -> None:
    ctx.throw(401, "log in first")


app = App()
app.use(error_handler())
app.use(
    cors(
        origin="*",
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Content-Type", "Authorization"],
    )
)
app.use(router.routes(), router.allowed_methods())

credentials_app = App()
credentials_app.use(error_handler())
credentials_app.use(
    cors(origin=["https://app.example.com"], credentials=True, expose_headers=["X-Total"])
)
credentials_app.use(router.routes(), router.allowed_methods())
