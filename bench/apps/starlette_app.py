"""Starlette, written the way its docs recommend for speed.

``mw10`` uses pure ASGI middleware classes (Starlette's own advice for anything hot);
``mw10_bhm`` is the same ten layers as ``BaseHTTPMiddleware``, the convenient way most
code bases actually write middleware, measured separately as ``starlette-bhm``.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def json_(request: Request) -> Response:
    return JSONResponse(MESSAGE)


async def echo(request: Request) -> Response:
    data: Any = await request.json()
    return JSONResponse(data)


async def error(request: Request) -> Response:
    raise HTTPException(404)


base = Starlette(
    routes=[
        Route("/", plaintext),
        Route("/json", json_),
        Route("/echo", echo, methods=["POST"]),
        Route("/error", error),
    ]
)


async def hello_depth(request: Request) -> Response:
    return PlainTextResponse(HELLO, headers={"x-depth": str(request.state.depth)})


class Layer:
    """Pure ASGI middleware: the depth lives in ``scope["state"]`` (``request.state``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["depth"] = state.get("depth", 0) + 1
        await self.app(scope, receive, send)
        state["depth"] -= 1


mw10 = Starlette(
    routes=[Route("/", hello_depth)],
    middleware=[Middleware(Layer) for _ in range(MW_LAYERS)],
)


class BHMLayer(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.depth = getattr(request.state, "depth", 0) + 1
        response = await call_next(request)
        request.state.depth -= 1
        return response


mw10_bhm = Starlette(
    routes=[Route("/", hello_depth)],
    middleware=[Middleware(BHMLayer) for _ in range(MW_LAYERS)],
)


async def route_param(request: Request) -> Response:
    return PlainTextResponse(request.path_params["id"])


router100 = Starlette(routes=[Route(f"/route{i}/{{id}}", route_param) for i in range(ROUTE_COUNT)])

ensure_static_file()
static = Starlette(routes=[Mount("/static", StaticFiles(directory=STATIC_DIR))])
