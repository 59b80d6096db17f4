"""Small builders shared by the batch-A middleware tests (HTTP in, HTTP out)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from scallion import App
from scallion.testing import TestClient


def app_with(*middleware: Any, handler: Callable[..., Any] | None = None, **options: Any) -> App:
    """An App running ``middleware`` and then ``handler`` (default: ``{"ok": True}``)."""

    async def default(ctx: Any) -> None:
        ctx.body = {"ok": True}

    app = App(**options)
    app.use(*middleware, endpoint(handler or default))
    return app


def endpoint(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Let a route-style ``(ctx)`` handler sit at the end of an App's chain."""
    if len(inspect.signature(handler).parameters) != 1:
        return handler

    async def run(ctx: Any, next: Any) -> Any:
        result = handler(ctx)
        return await result if inspect.isawaitable(result) else result

    return run


def client(
    *middleware: Any, handler: Callable[..., Any] | None = None, **options: Any
) -> TestClient:
    """A TestClient over ``app_with(...)``, closed (thread and loop) when collected."""
    return closing(TestClient(app_with(*middleware, handler=handler, **options)))


_open: list[TestClient] = []


def closing(test_client: TestClient) -> TestClient:
    """Keep only the few newest clients open: tests run one at a time, so older ones
    (from earlier tests) are done and their threads and loops can go."""
    _open.append(test_client)
    while len(_open) > 4:
        _open.pop(0).close()
    return test_client


async def raw_request(
    app: Any,
    path: str = "/",
    *,
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    query: bytes = b"",
    scheme: str = "http",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Drive ``app`` with a hand-made ASGI scope, for headers no HTTP client would send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        import asyncio

        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body
