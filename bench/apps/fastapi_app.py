"""FastAPI as its tutorial writes it: decorated path operations returning plain values.

``mw10`` uses ``@app.middleware("http")``, FastAPI's documented way to add middleware
(BaseHTTPMiddleware underneath), ten times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file

base = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@base.get("/", response_class=PlainTextResponse)
async def plaintext() -> str:
    return HELLO


@base.get("/json")
async def json_() -> dict[str, str]:
    return MESSAGE


@base.post("/echo")
async def echo(data: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return data


@base.get("/error")
async def error() -> None:
    raise HTTPException(status_code=404, detail="Not Found")


mw10 = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@mw10.get("/", response_class=PlainTextResponse)
async def hello_depth(request: Request, response: Response) -> str:
    response.headers["x-depth"] = str(request.state.depth)
    return HELLO


async def layer(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request.state.depth = getattr(request.state, "depth", 0) + 1
    response = await call_next(request)
    request.state.depth -= 1
    return response


for _ in range(MW_LAYERS):
    mw10.middleware("http")(layer)


router100 = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def _add_route(i: int) -> None:
    @router100.get(f"/route{i}/{{id}}", response_class=PlainTextResponse)
    async def route_param(id: str) -> str:
        return id


for _i in range(ROUTE_COUNT):
    _add_route(_i)

ensure_static_file()
static = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
static.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
