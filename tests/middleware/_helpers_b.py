"""Builders shared by the batch-B middleware tests (HTTP in, HTTP out)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


class Sent:
    """What an app sent back over ASGI: status, headers, and each body message."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = next(m for m in messages if m["type"] == "http.response.start")
        self.status: int = start["status"]
        self.header_list: list[tuple[str, str]] = [
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in start["headers"]
        ]
        self.headers = dict(self.header_list)
        self.chunks: list[bytes] = [
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        ]
        self.body = b"".join(self.chunks)


async def asgi(
    app: Any,
    path: str = "/",
    *,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: Iterable[bytes] = (),
    raw_path: bytes | None = None,
) -> Sent:
    """Drive ``app`` with a hand-made scope and a body sent in the given chunks.

    ``body`` is read lazily, one chunk ahead, so a test can count what the app pulled.

    For what an HTTP client would not send (odd paths, chunked bodies without a length)
    or would decode for us (compressed bodies).
    """
    chunks = iter(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8"),
        "query_string": b"",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    ahead: list[bytes] = [next(chunks, b"")]  # one chunk read ahead, to know more_body
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if not done:
            chunk = ahead.pop()
            following = next(chunks, None)
            if following is None:
                done = True
            else:
                ahead.append(following)
            return {"type": "http.request", "body": chunk, "more_body": not done}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return Sent(sent)
