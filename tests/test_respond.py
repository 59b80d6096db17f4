"""respond(): how a response goes out as ASGI messages (HEAD, empty statuses, streams, files)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from _core_helpers import BodyReceiver, asgi_request, http, make_scope

from scallion import App, Context


def answer(value: Any) -> Any:
    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = value

    return mw


@pytest.mark.parametrize(
    ("value", "length"), [("hello", 5), ({"a": 1}, 7), (b"\x00" * 10, 10), (None, None)]
)
def test_head_sends_the_get_length_and_no_body(value: Any, length: int | None) -> None:
    response = http(App().use(answer(value)), "HEAD")
    assert response.content == b""
    declared = response.headers.get("content-length")
    assert (int(declared) if declared else None) == length


def test_head_of_a_404_keeps_the_length_of_not_found() -> None:
    response = http(App(), "HEAD")
    assert response.status_code == 404
    assert response.headers["content-length"] == "9"
    assert response.content == b""


async def test_head_closes_a_streaming_body_at_once() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"never sent"

    gen = source()
    sent = await asgi_request(App().use(answer(gen)), make_scope("HEAD"))
    assert sent.status == 200
    assert sent.body == b""
    assert [m.get("more_body", False) for m in sent.body_messages] == [False]
    with pytest.raises(StopAsyncIteration):  # closed: it will never produce anything
        await gen.__anext__()


async def test_head_closes_a_sync_generator_and_a_file(tmp_path: Path) -> None:
    def source() -> Iterator[bytes]:
        yield b"never sent"

    gen = source()
    await asgi_request(App().use(answer(gen)), make_scope("HEAD"))
    assert list(gen) == []
    path = tmp_path / "f.txt"
    path.write_bytes(b"12345")
    handle = path.open("rb")
    sent = await asgi_request(App().use(answer(handle)), make_scope("HEAD"))
    assert sent.headers["content-length"] == "5"
    assert sent.body == b""
    assert handle.closed


@pytest.mark.parametrize("code", [204, 304])
def test_empty_statuses_send_no_body_and_no_content_headers(code: int) -> None:
    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = "dropped"
        ctx.response.etag = "v1"
        ctx.status = code

    response = http(App().use(mw))
    assert response.status_code == code
    assert response.content == b""
    assert "content-type" not in response.headers
    assert "content-length" not in response.headers
    assert response.headers["etag"] == '"v1"'


def test_a_304_from_a_freshness_check() -> None:
    async def cached(ctx: Context, next: Any) -> None:
        ctx.response.etag = "abc"
        ctx.body = "payload"
        if ctx.fresh:
            ctx.status = 304

    app = App().use(cached)
    assert http(app).text == "payload"
    fresh = http(app, headers={"If-None-Match": '"abc"'})
    assert (fresh.status_code, fresh.content) == (304, b"")


async def test_an_async_generator_streams_chunk_by_chunk() -> None:
    async def source() -> AsyncIterator[bytes]:
        for part in (b"one", b"", b"two", "three"):
            yield part  # type: ignore[misc]

    sent = await asgi_request(App().use(answer(source())))
    bodies = [(m["body"], m.get("more_body", False)) for m in sent.body_messages]
    assert bodies == [(b"one", True), (b"two", True), (b"three", True), (b"", False)]
    assert "content-length" not in sent.headers


async def test_a_sync_generator_streams_too() -> None:
    def source() -> Iterator[bytes]:
        yield b"a"
        yield b"b"

    sent = await asgi_request(App().use(answer(source())))
    assert sent.body == b"ab"
    assert sent.body_messages[-1].get("more_body", False) is False


async def test_a_file_streams_with_its_size_as_content_length(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 200_000)
    handle = path.open("rb")
    sent = await asgi_request(App().use(answer(handle)))
    assert sent.headers["content-length"] == "200000"
    assert sent.body == b"x" * 200_000
    assert len(sent.body_messages) > 2  # read in chunks, not at once
    assert handle.closed


async def test_a_file_already_read_from_sends_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"headerbody")
    handle = path.open("rb")
    handle.seek(6)
    ctx_type: list[str] = []

    async def mw(ctx: Context, next: Any) -> None:
        ctx.body = handle
        ctx.type = "txt"
        ctx_type.append(ctx.type)

    sent = await asgi_request(App().use(mw))
    assert sent.headers["content-length"] == "4"
    assert sent.headers["content-type"] == "text/plain; charset=utf-8"
    assert sent.body == b"body"


def test_a_file_over_http(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<h1>hi</h1>")

    async def mw(ctx: Context, next: Any) -> None:
        ctx.type = "html"
        ctx.body = path.open("rb")

    response = http(App().use(mw))
    assert response.text == "<h1>hi</h1>"
    assert response.headers["content-length"] == "11"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_an_error_inside_a_stream_after_headers_is_reported_and_ends_cleanly() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("source broke")

    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    sent = await asgi_request(app.use(answer(source())))
    assert sent.status == 200
    assert sent.body == b"partial"
    assert sent.body_messages[-1].get("more_body", False) is False
    assert [str(e) for e in errors] == ["source broke"]


async def test_an_error_inside_a_stream_is_logged_without_listeners(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def source() -> Iterator[bytes]:
        yield b"x"
        raise ValueError("sync source broke")

    sent = await asgi_request(App().use(answer(source())))
    assert sent.body_messages[-1].get("more_body", False) is False
    assert "sync source broke" in caplog.text


class DisconnectAfterFirstChunk:
    """A client that goes away as soon as it has seen the first body chunk."""

    def __init__(self) -> None:
        self.first_chunk = asyncio.Event()
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.first_chunk.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            self.first_chunk.set()


async def test_client_disconnect_mid_response_closes_the_generator_at_once_starlette_297() -> None:
    log: list[str] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await asyncio.sleep(30)  # a slow upstream that would keep the task alive
            yield b"never"
        finally:
            log.append("finally")

    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    client = DisconnectAfterFirstChunk()
    sent = await asyncio.wait_for(
        asgi_request(app.use(answer(source())), make_scope(), client.receive, client.send), 5
    )
    assert log == ["finally"]
    assert errors == []
    assert b"never" not in sent.body
    assert asyncio.all_tasks() == {asyncio.current_task()}  # no leaked watcher or stream


async def test_client_disconnect_during_a_fast_stream_stops_it() -> None:
    produced: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        n = 0
        while True:
            n += 1
            produced.append(n)
            yield b"chunk"
            await asyncio.sleep(0)

    client = DisconnectAfterFirstChunk()
    await asyncio.wait_for(
        asgi_request(App().use(answer(endless())), make_scope(), client.receive, client.send), 5
    )
    assert len(produced) < 100


async def test_streaming_waits_for_send_back_pressure() -> None:
    produced: list[int] = []
    release = asyncio.Event()
    sends = 0

    async def source() -> AsyncIterator[bytes]:
        for n in range(5):
            produced.append(n)
            yield b"x"

    async def slow_send(message: Any) -> None:
        nonlocal sends
        if message["type"] == "http.response.body":
            sends += 1
            if sends == 2:
                await release.wait()

    task = asyncio.ensure_future(
        asgi_request(App().use(answer(source())), make_scope(), BodyReceiver(), slow_send)
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert produced == [0, 1]  # nothing is read ahead while the client is slow
    release.set()
    sent = await asyncio.wait_for(task, 5)
    assert produced == [0, 1, 2, 3, 4]
    assert sent.body == b"xxxxx"
