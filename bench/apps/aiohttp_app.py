"""aiohttp.web on its own server (it is not ASGI): ``python -m bench.apps.aiohttp_app``.

``@web.middleware`` handlers are aiohttp's onion; the loop is uvloop like everyone else's.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEPTH = web.RequestKey("depth", int)


async def plaintext(request: web.Request) -> web.Response:
    return web.Response(text=HELLO)


async def json_(request: web.Request) -> web.Response:
    return web.json_response(MESSAGE)


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await request.json())


async def error(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


def base() -> web.Application:
    app = web.Application()
    app.router.add_get("/", plaintext)
    app.router.add_get("/json", json_)
    app.router.add_post("/echo", echo)
    app.router.add_get("/error", error)
    return app


async def hello_depth(request: web.Request) -> web.Response:
    return web.Response(text=HELLO, headers={"x-depth": str(request[DEPTH])})


@web.middleware
async def layer(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[DEPTH] = request.get(DEPTH, 0) + 1
    response = await handler(request)
    request[DEPTH] -= 1
    return response


def mw10() -> web.Application:
    app = web.Application(middlewares=[layer] * MW_LAYERS)
    app.router.add_get("/", hello_depth)
    return app


async def route_param(request: web.Request) -> web.Response:
    return web.Response(text=request.match_info["id"])


def router100() -> web.Application:
    app = web.Application()
    for i in range(ROUTE_COUNT):
        app.router.add_get(f"/route{i}/{{id}}", route_param)
    return app


def static() -> web.Application:
    ensure_static_file()
    app = web.Application()
    app.router.add_static("/static", STATIC_DIR)
    return app


VARIANTS: dict[str, Callable[[], web.Application]] = {
    "base": base,
    "mw10": mw10,
    "router100": router100,
    "static": static,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        VARIANTS[args.variant](),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
