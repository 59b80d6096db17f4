"""scallion, written against its public contract (DESIGN §2) the way its docs show it.

Variants: ``base`` (plaintext, json, post-json, error), ``mw10``, ``router100``,
``static``, and the Express layer's ``express`` and ``express_mw10``.
"""

from __future__ import annotations

from typing import Any

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file
from scallion import App, HttpError, Router
from scallion.express import Express, ExpressRequest, ExpressResponse
from scallion.types import Next

try:  # the middleware library lands separately; fall back to the request's own reader
    from scallion.middleware import body_parser  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - depends on the checkout
    body_parser = None

try:
    from scallion.middleware import serve_static  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # pragma: no cover - depends on the checkout
    serve_static = None

HAS_STATIC = serve_static is not None

# -- base ---------------------------------------------------------------------------------

router = Router()


@router.get("/")
async def plaintext(ctx: Any) -> None:
    ctx.body = HELLO


@router.get("/json")
async def json_(ctx: Any) -> None:
    ctx.body = MESSAGE


@router.get("/error")
async def error(ctx: Any) -> None:
    raise HttpError(404)


if body_parser is not None:

    async def echo(ctx: Any) -> None:
        ctx.body = ctx.request.parsed

    router.post("/echo", body_parser(), echo)
else:

    @router.post("/echo")
    async def echo(ctx: Any) -> None:
        ctx.body = await ctx.request.json()


base = App()
base.use(router.routes()).use(router.allowed_methods())

# -- mw10 ---------------------------------------------------------------------------------


async def layer(ctx: Any, next: Next) -> None:
    state = ctx.state
    state.depth = state.get("depth", 0) + 1
    await next()
    state.depth -= 1


mw10_router = Router()


@mw10_router.get("/")
async def hello_depth(ctx: Any) -> None:
    ctx.set("x-depth", str(ctx.state.depth))
    ctx.body = HELLO


mw10 = App()
for _ in range(MW_LAYERS):
    mw10.use(layer)
mw10.use(mw10_router.routes()).use(mw10_router.allowed_methods())

# -- router100 ----------------------------------------------------------------------------


async def route_param(ctx: Any) -> None:
    ctx.body = ctx.params["id"]


routes100 = Router()
for _i in range(ROUTE_COUNT):
    routes100.get(f"/route{_i}/:id", route_param)

router100 = App()
router100.use(routes100.routes()).use(routes100.allowed_methods())

# -- static -------------------------------------------------------------------------------

ensure_static_file()
static = App()
if serve_static is not None:
    static.use(serve_static(STATIC_DIR, prefix="/static"))

# -- the Express layer --------------------------------------------------------------------


def ex_plaintext(req: ExpressRequest, res: ExpressResponse) -> None:
    res.type("text/plain").send(HELLO)


ex = Express()
ex.get("/", ex_plaintext)
express = App()
express.use(ex)


def ex_layer(req: ExpressRequest, res: ExpressResponse, next: Any) -> None:
    # Express layers are linear (next() does not run the rest), so only the "before" half.
    locals_ = res.locals
    locals_["depth"] = locals_.get("depth", 0) + 1
    next()


def ex_hello_depth(req: ExpressRequest, res: ExpressResponse) -> None:
    res.set("x-depth", str(res.locals["depth"]))
    res.type("text/plain").send(HELLO)


ex_mw10 = Express()
for _ in range(MW_LAYERS):
    ex_mw10.use(ex_layer)
ex_mw10.get("/", ex_hello_depth)
express_mw10 = App()
express_mw10.use(ex_mw10)


# -- stack: the seeds' recommended order in front of the plaintext route (issue 3) --------


def _stack_app() -> App:
    import logging
    import os

    from scallion.middleware import (
        body_parser,
        compress,
        cors,
        error_handler,
        logger,
        request_id,
        response_time,
        security_headers,
    )

    access = logging.getLogger("bench.access")
    access.propagate = False
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler(open(os.devnull, "w")))  # noqa: SIM115
    app = App()
    app.use(error_handler())  # 1. errors, outermost
    app.use(request_id(), logger(format="json", logger=access), response_time())  # 2.
    app.use(security_headers(), cors(), compress(), body_parser())  # 3.
    app.use(plaintext)  # 4. the route
    return app


stack = _stack_app()
