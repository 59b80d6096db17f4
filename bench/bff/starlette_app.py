"""Starlette + the aiohttp client: the best hand-written Python fan-out (issue #5's peer).

One ``aiohttp.ClientSession`` for the app's life (created in the lifespan, so it binds to
the server's loop), a keep-alive connector sized for 128 concurrent clients, the three
calls under ``asyncio.gather``, each body parsed with orjson, one orjson-encoded answer.
Served like scallion: granian, one worker, uvloop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bench.bff.common import HELLO, upstream_urls

URLS = upstream_urls()
POOL = 256


class ORJSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=3 * POOL, limit_per_host=POOL, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=2.0),
        auto_decompress=False,
    )


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return orjson.loads(await resp.read())


async def dashboard(request: Request) -> Response:
    uid = request.path_params["id"]
    session: aiohttp.ClientSession = request.app.state.session
    user, orders, recs = await asyncio.gather(
        get_json(session, f"{URLS['users']}/users/{uid}"),
        get_json(session, f"{URLS['orders']}/orders?user={uid}"),
        get_json(session, f"{URLS['catalog']}/recommendations/{uid}"),
    )
    return ORJSONResponse({"user": user, "orders": orders, "recs": recs, "missing": []})


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.session = new_session()
    try:
        yield
    finally:
        await app.state.session.close()


app = Starlette(
    routes=[Route("/dashboard/{id}", dashboard), Route("/plaintext", plaintext)],
    lifespan=lifespan,
)
