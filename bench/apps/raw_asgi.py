"""The ceiling: plain ASGI callables with no framework at all.

Written the way a careful person would hand-write them (dispatch on the path, one
``http.response.start`` and one ``http.response.body``), so that every framework's
number can be read as a fraction of what the server itself allows.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from bench.apps.common import (
    HELLO_BYTES,
    MESSAGE,
    MW_LAYERS,
    ROUTE_COUNT,
    STATIC_PATH,
    STATIC_URL,
    ensure_static_file,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI = Callable[[Scope, Receive, Send], Awaitable[None]]

TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"


async def _send(
    send: Send, status: int, ctype: bytes, body: bytes, extra: list[Any] | None = None
) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def base(scope: Scope, receive: Receive, send: Send) -> None:
    """plaintext ``/``, json ``/json``, post-json ``POST /echo``, error ``/error``."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    path = scope["path"]
    method = scope["method"]
    if path == "/" and method == "GET":
        await _send(send, 200, TEXT, HELLO_BYTES)
    elif path == "/json" and method == "GET":
        await _send(send, 200, JSON, orjson.dumps(MESSAGE))
    elif path == "/echo" and method == "POST":
        try:
            data = orjson.loads(await _read_body(receive))
        except orjson.JSONDecodeError:
            await _send(send, 400, TEXT, b"Bad Request")
            return
        await _send(send, 200, JSON, orjson.dumps(data))
    else:  # /error and everything else
        await _send(send, 404, TEXT, b"Not Found")


async def _hello_with_depth(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    if scope["path"] != "/":
        await _send(send, 404, TEXT, b"Not Found")
        return
    depth = str(scope["state"]["depth"]).encode()
    await _send(send, 200, TEXT, HELLO_BYTES, [(b"x-depth", depth)])


class _Layer:
    """A pure ASGI pass-through layer doing work before and after the inner app."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["depth"] = state.get("depth", 0) + 1
        await self.app(scope, receive, send)
        state["depth"] -= 1


def _build_mw10() -> ASGI:
    app: ASGI = _hello_with_depth
    for _ in range(MW_LAYERS):
        app = _Layer(app)
    return app


mw10 = _build_mw10()

_ROUTES = frozenset(f"route{i}" for i in range(ROUTE_COUNT))


async def router100(scope: Scope, receive: Receive, send: Send) -> None:
    """``/route{i}/{id}`` for 100 prefixes: split the path and look the prefix up in a set."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    parts = scope["path"].split("/")
    if len(parts) == 3 and parts[1] in _ROUTES and parts[2] and scope["method"] == "GET":
        await _send(send, 200, TEXT, parts[2].encode())
    else:
        await _send(send, 404, TEXT, b"Not Found")


ensure_static_file()
_STATIC_FILES = {STATIC_URL: str(STATIC_PATH)}


async def static(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the file from disk on every request: stat, ETag, If-None-Match, read."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        return
    filename = _STATIC_FILES.get(scope["path"])
    if filename is None:
        await _send(send, 404, TEXT, b"Not Found")
        return
    st = os.stat(filename)
    etag = f'W/"{st.st_size:x}-{st.st_mtime_ns:x}"'.encode()
    for name, value in scope["headers"]:
        if name == b"if-none-match" and value == etag:
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
            return
    with open(filename, "rb") as f:
        body = f.read()
    await _send(send, 200, TEXT, body, [(b"etag", etag)])
