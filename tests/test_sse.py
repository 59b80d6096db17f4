"""Server-sent events: ``ctx.body = sse(events)`` encodes, pings, and stops when the client goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _core_helpers import asgi_request, make_scope

from scallion import App, Context, Event, sse


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (Event("hello"), b"data: hello\n\n"),
        (Event("line 1\nline 2"), b"data: line 1\ndata: line 2\n\n"),
        (Event(""), b"data: \n\n"),
        (Event({"a": 1}), b'data: {"a":1}\n\n'),
        (Event([1, 2]), b"data: [1,2]\n\n"),
        (
            Event("x", event="update", id="7", retry=3000),
            b"event: update\nid: 7\nretry: 3000\ndata: x\n\n",
        ),
    ],
)
def test_event_encoding(event: Event, wire: bytes) -> None:
    assert event.encode() == wire


@pytest.mark.parametrize("field", ["event", "id"])
def test_an_event_name_or_id_with_a_newline_is_refused(field: str) -> None:
    with pytest.raises(ValueError):
        Event("x", **{field: "a\nb"}).encode()


async def test_an_sse_body_streams_events_with_the_event_stream_type() -> None:
    async def events() -> AsyncIterator[Any]:
        yield "plain"
        yield {"n": 1}
        yield Event("done", event="end", id="3")

    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = sse(events())

    sent = await asgi_request(App().use(mw))
    assert sent.status == 200
    assert sent.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert sent.headers["cache-control"] == "no-cache"
    assert "content-length" not in sent.headers
    assert sent.body == (b'data: plain\n\ndata: {"n":1}\n\nevent: end\nid: 3\ndata: done\n\n')
    assert sent.body_messages[-1].get("more_body", False) is False


async def test_a_quiet_source_gets_ping_comments() -> None:
    async def slow() -> AsyncIterator[str]:
        await asyncio.sleep(0.2)
        yield "finally"

    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = sse(slow(), ping=0.03)

    sent = await asgi_request(App().use(mw))
    assert sent.body.count(b": ping\n\n") >= 2
    assert sent.body.endswith(b"data: finally\n\n")


async def test_a_client_disconnect_closes_the_event_source() -> None:
    log: list[str] = []
    first_sent = asyncio.Event()

    async def events() -> AsyncIterator[str]:
        try:
            yield "one"
            while True:
                await asyncio.sleep(10)
                yield "never"
        finally:
            log.append("source closed")

    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = sse(events(), ping=5)

    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await first_sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        if message.get("body"):
            first_sent.set()

    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    sent = await asyncio.wait_for(asgi_request(app.use(mw), make_scope(), receive, send), 5)
    assert sent.body == b"data: one\n\n"
    assert log == ["source closed"]
    assert errors == []
    assert asyncio.all_tasks() == {asyncio.current_task()}  # the pending anext() is gone too


async def test_an_error_in_the_event_source_ends_the_stream_and_is_reported() -> None:
    async def events() -> AsyncIterator[str]:
        yield "ok"
        raise LookupError("feed broke")

    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = sse(events(), ping=None)

    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    sent = await asgi_request(app.use(mw))
    assert sent.body == b"data: ok\n\n"
    assert sent.body_messages[-1].get("more_body", False) is False
    assert [type(e) for e in errors] == [LookupError]
