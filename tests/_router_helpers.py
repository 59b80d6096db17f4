"""Helpers for the router tests: an App around some middleware, HTTP in and HTTP out."""

from __future__ import annotations

from typing import Any

import httpx
from _core_helpers import Sent, asgi_request, make_scope

from scallion import App
from scallion.router import Router
from scallion.testing import AsyncTestClient


def app_for(*middleware: Any, allowed: bool = True) -> App:
    """An App running ``middleware`` (Routers are turned into routes() + allowed_methods())."""
    app = App()
    for mw in middleware:
        if isinstance(mw, Router):
            app.use(mw.routes())
            if allowed:
                app.use(mw.allowed_methods())
        else:
            app.use(mw)
    return app


async def fetch(target: App | Router, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through ``target`` (a Router gets wrapped in an App)."""
    app = target if isinstance(target, App) else app_for(target)
    async with AsyncTestClient(app, lifespan=False) as client:
        return await client.request(method, url, **kwargs)


async def raw(target: App | Router, method: str, raw_path: bytes) -> Sent:
    """A request with exactly ``raw_path`` on the wire (no client-side normalisation)."""
    app = target if isinstance(target, App) else app_for(target)
    path = raw_path.decode("latin-1")
    return await asgi_request(app, make_scope(method, path, raw_path=raw_path))
