"""aiohttp's server + aiohttp's client: the other hand-written Python fan-out peer.

``python -m bench.bff.aiohttp_app --port N`` (uvloop). One ``ClientSession`` made in
``cleanup_ctx``, a keep-alive connector sized for 128 concurrent clients, the three calls
under ``asyncio.gather``, bodies parsed and the answer encoded with orjson.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.bff.common import HELLO, upstream_urls

URLS = upstream_urls()
POOL = 256
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as resp:
        resp.raise_for_status()
        return orjson.loads(await resp.read())


async def dashboard(request: web.Request) -> web.Response:
    uid = request.match_info["id"]
    session = request.app[SESSION]
    user, orders, recs = await asyncio.gather(
        get_json(session, f"{URLS['users']}/users/{uid}"),
        get_json(session, f"{URLS['orders']}/orders?user={uid}"),
        get_json(session, f"{URLS['catalog']}/recommendations/{uid}"),
    )
    body = orjson.dumps({"user": user, "orders": orders, "recs": recs, "missing": []})
    return web.Response(body=body, content_type="application/json")


async def plaintext(request: web.Request) -> web.Response:
    return web.Response(text=HELLO)


async def client_session(app: web.Application) -> AsyncIterator[None]:
    app[SESSION] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=3 * POOL, limit_per_host=POOL, keepalive_timeout=60),
        timeout=aiohttp.ClientTimeout(total=2.0),
        auto_decompress=False,
    )
    yield
    await app[SESSION].close()


def build() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(client_session)
    app.router.add_get("/dashboard/{id}", dashboard)
    app.router.add_get("/plaintext", plaintext)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(build(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
