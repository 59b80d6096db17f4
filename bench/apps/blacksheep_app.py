"""BlackSheep with its router decorators, onion-style middlewares and ``serve_files``.

Each Application gets its own Router: BlackSheep refuses to share its default one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from blacksheep import Application, Request, Response, Router, json, text
from blacksheep.exceptions import NotFound

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file

base = Application(router=Router())


@base.router.get("/")
async def plaintext() -> Response:
    return text(HELLO)


@base.router.get("/json")
async def json_() -> Response:
    return json(MESSAGE)


@base.router.post("/echo")
async def echo(request: Request) -> Response:
    data: Any = await request.json()
    return json(data)


@base.router.get("/error")
async def error() -> Response:
    raise NotFound()  # type: ignore[no-untyped-call]


mw10 = Application(router=Router())


@mw10.router.get("/")
async def hello_depth(request: Request) -> Response:
    response = text(HELLO)
    scope: dict[str, Any] = request.scope  # type: ignore[assignment]
    response.add_header(b"x-depth", str(scope["state"]["depth"]).encode())
    return response


async def layer(request: Request, handler: Callable[[Request], Awaitable[Response]]) -> Response:
    # BlackSheep's Request has no state namespace; the ASGI scope's "state" dict is the
    # per-request place every ASGI framework shares.
    scope: dict[str, Any] = request.scope  # type: ignore[assignment]
    state = scope.setdefault("state", {})
    state["depth"] = state.get("depth", 0) + 1
    response = await handler(request)
    state["depth"] -= 1
    return response


for _ in range(MW_LAYERS):
    mw10.middlewares.append(layer)


router100 = Application(router=Router())


def _add_route(i: int) -> None:
    @router100.router.get(f"/route{i}/:id")
    async def route_param(id: str) -> Response:
        return text(id)


for _i in range(ROUTE_COUNT):
    _add_route(_i)

ensure_static_file()
static = Application(router=Router())
static.serve_files(STATIC_DIR, root_path="static")
