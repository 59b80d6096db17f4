"""Falcon's ASGI app: resource classes, process_request/process_response middleware."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from bench.apps.common import HELLO, MESSAGE, MW_LAYERS, ROUTE_COUNT, STATIC_DIR, ensure_static_file


class Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = MESSAGE


class Echo:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        data: Any = await req.get_media()
        resp.media = data


class Error:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        raise falcon.HTTPNotFound()


base = falcon.asgi.App()
base.add_route("/", Plaintext())
base.add_route("/json", Json())
base.add_route("/echo", Echo())
base.add_route("/error", Error())


class HelloDepth:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO
        resp.set_header("x-depth", str(req.context.depth))


class Layer:
    """Falcon middleware is a pair of hooks rather than an onion; this is its equivalent."""

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        req.context.depth = getattr(req.context, "depth", 0) + 1

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        req.context.depth -= 1


mw10 = falcon.asgi.App(middleware=[Layer() for _ in range(MW_LAYERS)])
mw10.add_route("/", HelloDepth())


class RouteParam:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, id: str) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = id


router100 = falcon.asgi.App()
for _i in range(ROUTE_COUNT):
    router100.add_route(f"/route{_i}/{{id}}", RouteParam())

ensure_static_file()
static = falcon.asgi.App()
static.add_static_route("/static", str(STATIC_DIR))
