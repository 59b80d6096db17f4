"""Helpers for the Express tests: an App around an Express stack, HTTP in and HTTP out."""

from __future__ import annotations

from typing import Any

import httpx

from scallion import App, HttpError
from scallion.express import Express
from scallion.testing import AsyncTestClient


async def fetch(app: App, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through ``app``."""
    async with AsyncTestClient(app, lifespan=False) as client:
        return await client.request(method, url, **kwargs)


def serve(ex: Express, *after: Any) -> App:
    """An App running ``ex``, then ``after`` (onion middleware)."""
    app = App()
    app.use(ex, *after)
    return app


def error_reporter(err: BaseException, req: Any, res: Any, next: Any) -> None:
    """Error middleware answering the error's type and message as JSON."""
    res.status(599 if not isinstance(err, HttpError) else err.status).json(
        {"error": type(err).__name__, "message": str(err)}
    )
