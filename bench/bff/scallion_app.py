"""scallion's fan-out gateway written in Python, the way docs/bff.md shows it.

``GET /dashboard/:id``: ``ctx.bff.gather`` over three ``Upstream``s (the default
pyreqwest transport, keep-alive pools), ``got.to_response(ctx)``.
``GET /cached/dashboard/:id``: the same handler behind ``response_cache(ttl=60)``.
``GET /naive/dashboard/:id``: the same handler behind a cache-aside dict without
coalescing (the coalescing measurement's "without": every concurrent miss runs the chain).
``GET /plaintext``: a hello-world route, the reference for the cached path's ratio.

Served by granian (one worker, uvloop): ``granian --interface asgi bench.bff.scallion_app:app``
with ``BFF_USERS_URL``, ``BFF_ORDERS_URL`` and ``BFF_CATALOG_URL`` set.
"""

from __future__ import annotations

from typing import Any

from bench.bff.common import HELLO, upstream_urls
from scallion import App, Router
from scallion.bff import Upstream, Upstreams, bff, response_cache
from scallion.types import Next

POOL = 256  # connections per upstream: more than the 128 concurrent clients ever need


def build() -> App:
    urls = upstream_urls()
    upstreams = Upstreams(
        *(Upstream(name, url, timeout=2.0, max_connections=POOL) for name, url in urls.items())
    )
    app = App()
    app.use(bff(upstreams, app=app))
    router = Router()

    async def dashboard(ctx: Any) -> None:
        uid = ctx.params["id"]
        got = await ctx.bff.gather(
            user=ctx.bff.upstream("users").get_json(f"/users/{uid}"),
            orders=ctx.bff.upstream("orders").get_json(f"/orders?user={uid}"),
            recs=ctx.bff.upstream("catalog").get_json(f"/recommendations/{uid}"),
        )
        got.to_response(ctx)

    naive: dict[str, tuple[bytes, str]] = {}

    async def naive_cache(ctx: Any, next: Next) -> None:
        """Cache-aside without coalescing: look, miss, run the chain, store."""
        hit = naive.get(ctx.url)
        if hit is not None:
            ctx.body, ctx.type = hit
            return
        await next()
        if ctx.status == 200:
            naive[ctx.url] = (ctx.response.encoded(), "application/json")

    async def plaintext(ctx: Any) -> None:
        ctx.body = HELLO

    router.get("/dashboard/:id", dashboard)
    router.get("/cached/dashboard/:id", response_cache(ttl=60), dashboard)
    router.get("/naive/dashboard/:id", naive_cache, dashboard)
    router.get("/plaintext", plaintext)
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
