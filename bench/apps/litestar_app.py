"""Litestar with typed handlers, its ``ASGIMiddleware`` base class and its static router."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.middleware import ASGIMiddleware
from litestar.params import FromPath, JSONBody
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file


@get("/", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return HELLO


@get("/json")
async def json_() -> dict[str, str]:
    return MESSAGE


@post("/echo", status_code=200)
async def echo(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    return data


@get("/error")
async def error() -> None:
    raise NotFoundException()


base = Litestar(route_handlers=[plaintext, json_, echo, error], openapi_config=None)


@get("/", media_type=MediaType.TEXT)
async def hello_depth(request: Request[Any, Any, Any]) -> Response[str]:
    return Response(HELLO, media_type=MediaType.TEXT, headers={"x-depth": str(request.state.depth)})


class Layer(ASGIMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        state: dict[str, Any] = scope["state"]
        state["depth"] = state.get("depth", 0) + 1
        await next_app(scope, receive, send)
        state["depth"] -= 1


mw10 = Litestar(
    route_handlers=[hello_depth],
    middleware=[Layer() for _ in range(MW_LAYERS)],
    openapi_config=None,
)


def _route(i: int) -> Any:
    @get(f"/route{i}/{{id:str}}", media_type=MediaType.TEXT, name=f"route{i}")
    async def route_param(id: FromPath[str]) -> str:
        return id

    return route_param


router100 = Litestar(route_handlers=[_route(i) for i in range(ROUTE_COUNT)], openapi_config=None)

ensure_static_file()
static = Litestar(
    route_handlers=[create_static_files_router(path="/static", directories=[STATIC_DIR])],
    openapi_config=None,
)
