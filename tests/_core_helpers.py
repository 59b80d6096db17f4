"""Test helpers for the core: a fake Context (Koa's test-helpers/context.js) and raw ASGI calls.

``fake_context()`` builds a real ``Context`` over a made-up scope, so unit tests of
request/response/context members need no HTTP. ``asgi_request()`` drives an app with a
hand-written ``receive`` and records every message it sends, for the cases an HTTP client
hides: how often ``receive`` was called, what the last body message said, disconnects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from scallion import App, Context
from scallion.testing import TestClient
from scallion.types import ASGIApp, Message, Receive, Scope


def make_scope(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    scheme: str = "http",
    raw_path: bytes | None = None,
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
) -> Scope:
    """An ASGI http scope; ``path`` is the decoded path, ``raw_path`` defaults to it."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    if not any(k == b"host" for k, _ in raw_headers):
        raw_headers.append((b"host", b"testserver"))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": raw_headers,
        "client": client,
        "server": ("testserver", 80),
    }


class BodyReceiver:
    """A ``receive`` that hands out ``chunks`` one message at a time and counts calls.

    After the chunks it waits, as a server does while the client is still there, until
    ``disconnect()`` is called; with ``disconnect_after`` it reports ``http.disconnect``
    right after that many chunks instead.
    """

    def __init__(
        self, chunks: Iterable[bytes] = (), *, disconnect_after: int | None = None
    ) -> None:
        self.chunks = list(chunks)
        self.disconnect_after = disconnect_after
        self.calls = 0
        self.bytes_given = 0
        self._gone = asyncio.Event()

    def disconnect(self) -> None:
        self._gone.set()

    async def __call__(self) -> Message:
        self.calls += 1
        index = self.calls - 1
        if self.disconnect_after is not None and index >= self.disconnect_after:
            return {"type": "http.disconnect"}
        if index < len(self.chunks):
            chunk = self.chunks[index]
            self.bytes_given += len(chunk)
            more = index < len(self.chunks) - 1
            return {"type": "http.request", "body": chunk, "more_body": more}
        if index == 0:  # no body at all
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}


@dataclass
class Sent:
    """Every message an app sent, with the start and body split out."""

    messages: list[Message] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        self.messages.append(dict(message))

    @property
    def start(self) -> Message:
        return next(m for m in self.messages if m["type"] == "http.response.start")

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.body_messages)

    @property
    def body_messages(self) -> list[Message]:
        return [m for m in self.messages if m["type"] == "http.response.body"]


async def asgi_request(
    app: ASGIApp,
    scope: Scope | None = None,
    receive: Receive | None = None,
    send: Callable[[Message], Awaitable[None]] | None = None,
) -> Sent:
    """Call ``app`` once, as a server would, and return what it sent."""
    sent = Sent()

    async def both(message: Message) -> None:
        await sent(message)
        if send is not None:
            await send(message)

    await app(scope or make_scope(), receive or BodyReceiver(), both)
    return sent


def fake_context(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    body: bytes | Iterable[bytes] = b"",
    scheme: str = "http",
    raw_path: bytes | None = None,
    app: App | None = None,
    **app_options: Any,
) -> Context:
    """A real Context over a fake request: ``fake_context("POST", "/x", body=b"{}")``."""
    scope = make_scope(method, path, query=query, headers=headers, scheme=scheme, raw_path=raw_path)
    chunks = [body] if isinstance(body, bytes) else list(body)
    return Context(app or App(**app_options), scope, BodyReceiver(chunks), Sent())


def http(app: ASGIApp, method: str = "GET", url: str = "/", **kwargs: Any) -> httpx.Response:
    """One request through a fresh ``TestClient`` (no lifespan), closed afterwards."""
    client = TestClient(app)
    try:
        return client.request(method, url, **kwargs)
    finally:
        client.close()
